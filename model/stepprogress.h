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
    QString errorCode;     // set when FAILED
    QString errorMessage;  // the seed's errorMessage

    QString name() const { return stepDisplayName(step); }
    int order() const { return stepOrder(step); }
    // Milliseconds between start and finish; -1 when not both known.
    qint64 durationMs() const;

    bool operator==(const StepProgress &o) const;
    bool operator!=(const StepProgress &o) const { return !(*this == o); }
};
