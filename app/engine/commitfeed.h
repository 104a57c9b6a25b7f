#pragma once

// The transitions the orchestrator has decided, on their way to the committers.
//
// The orchestrator appends them in the order decided, each with a ticket (its
// place in that order); a committer takes a batch from the front the moment it is
// free and commits it, then takes the next one, without a round trip through the
// orchestrator's thread. That round trip (the report queued back, the orchestrator
// reaching it between its other work, the next batch queued out) used to leave the
// committer idle for 1-3 ms after each commit while transitions waited, which at
// 2,000 sagas in flight was a quarter of its time. Whatever accumulates while a
// batch commits goes out in the next one (group commit).
//
// Thread-safe: append(), withdraw(), repaired() and maxCommitting() are called
// from the orchestrator's thread, take() and broke() from the committers'.

#include "storetransition.h"

#include <QMutex>
#include <QVector>
#include <deque>
#include <vector>

class CommitFeed
{
public:
    struct Item {
        StoreTransition transition;
        bool chainsNext = false; // the next item is the same saga's follow-up: same batch
    };

    // `committers` take batches of at most maxBatch items; a batch is split over
    // several free committers only in parts of at least minSplit items.
    CommitFeed(int committers, int maxBatch, int minSplit);

    // Appends items with tickets firstTicket, firstTicket + 1, ... (continuing the
    // previous append). A committer that is committing takes them when it is done.
    void append(quint64 firstTicket, std::vector<Item> items);

    // The idle committers to wake for the items waiting (each marked as woken, so it
    // is woken once): as many as those items are worth.
    std::vector<int> wake();

    // Takes back every item no committer has taken (they are the newest tickets);
    // returns how many. For when the database went away.
    int withdraw();

    // The next batch for `committer`, from the front: false when there is nothing
    // to take or the committer is broken (it is then idle until woken again).
    bool take(int committer, QVector<StoreTransition> *batch, quint64 *firstTicket);

    // A committer lost its connection: it takes nothing until repaired().
    void broke(int committer);
    void repaired(int committer);

    // The most batches that were being committed at the same time.
    int maxCommitting() const;

private:
    enum class State { Idle, Woken, Committing };
    struct Committer {
        State state = State::Idle;
        bool broken = false;
    };

    mutable QMutex m_mutex;
    std::deque<Item> m_items;
    quint64 m_frontTicket = 0; // ticket of m_items.front()
    std::vector<Committer> m_committers;
    int m_maxBatch;
    int m_minSplit;
    int m_maxCommitting = 0;
};
