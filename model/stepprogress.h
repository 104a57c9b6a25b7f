#pragma once

#include "sagastatus.h"

#include <QDateTime>
#include <QString>

// Progress of one step of one order (the seed's StepProgress).
struct StepProgress {
    SagaStep step = SagaStep::Inventory;
    StepStatus status = StepStatus::Pending;
    QDateTime startedAt;   // null until the step starts
    QDateTime completedAt; // null until the step finishes (completed or failed)
    // A step taken over after an interruption (an engine crashed or stopped with it
    // in flight, another engine or a restart drove it again once the lease ran out):
    // when the attempt that finished it started (STEP_COMPLETED / forward
    // STEP_FAILED details.resumedAt). Null for a step that ran in one go, and for
    // records written before engines said so.
    QDateTime resumedAt;
    QString errorCode;     // set when FAILED
    QString errorMessage;  // the seed's errorMessage

    QString name() const { return stepDisplayName(step); }
    int order() const { return stepOrder(step); }
    // Milliseconds of the step's work: from its start (or, when it was taken over,
    // from resumedAt: the wait for the lease is no work) to its finish; -1 when not
    // both known. Every duration consumer (ETA, charts, stored durations, metrics)
    // measures the same way.
    qint64 durationMs() const;
    // Where the work that durationMs() counts began: resumedAt when set, else startedAt.
    const QDateTime &workStartedAt() const { return resumedAt.isValid() ? resumedAt : startedAt; }

    bool operator==(const StepProgress &o) const;
    bool operator!=(const StepProgress &o) const { return !(*this == o); }
};
