#pragma once

// What BatchCommitter answers for one batch of transitions (see batchcommitter.h).

#include "orderevent.h"
#include "storeerror.h"

#include <QMetaType>
#include <QVector>

struct CommitReport {
    // One transition's fate when a batch had to be committed one at a time.
    struct Single {
        bool committed = false;
        OrderEvent event; // the committed event (position, orderNumber filled in)
        StoreError error; // why it was refused (Conflict, Invalid)
    };

    quint64 firstTicket = 0;      // the batch is the feed's tickets firstTicket .. + count - 1
    int count = 0;                // transitions in the batch
    bool whole = false;           // the whole batch committed in one transaction: `events`
    QVector<OrderEvent> events;   // committed events in commit order (whole == true)
    QVector<Single> singles;      // the batch was refused: per-transition outcomes, in order
    // The database went away: the transitions after those in `singles` were not all
    // settled; the first `inDoubt` of them were in a commit whose outcome is unknown.
    StoreError unavailable;
    int inDoubt = 0;
    qint64 commitMicros = 0;      // time spent in the store (profiling)
};

Q_DECLARE_METATYPE(CommitReport)
