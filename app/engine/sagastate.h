#pragma once

#include "orderevent.h"
#include "orderrecord.h"
#include "sagastatus.h"
#include "stepcall.h"

#include <QJsonObject>
#include <QString>
#include <QUuid>
#include <array>
#include <optional>

// The orchestrator's view of one saga execution it drives. It is derived only
// from the order and the events of the current execution (apply()), so a saga
// resumed after a restart is in exactly the state its committed events say.
struct SagaState {
    // The order as the steps need it (corrections of a retry applied).
    QUuid orderId;
    QString orderNumber;
    QUuid customerId;
    QString traceId;
    QVector<OrderItem> items;
    QString paymentMethodId;
    ShippingAddress shippingAddress;
    qint64 totalInCents = 0;

    // The current execution, folded from its events.
    QString executionId;
    int attemptNumber = 1;
    qint64 lastSeq = 0;
    OverallStatus overall = OverallStatus::Queued;
    std::array<StepStatus, kStepCount> steps{StepStatus::Pending, StepStatus::Pending, StepStatus::Pending};
    std::optional<SagaStep> currentStep;
    StepContext context; // outputs of completed forward steps
    std::optional<SagaStep> failedStep;
    ErrorInfo failure;
    bool compensationIncomplete = false;
    // A forward call that did not answer (timeout, transport error) may have taken
    // effect: its step's STEP_FAILED says its reversal is owed ("reversalOwed"),
    // and it is reversed before anything else; what came of it is recorded with the
    // next event ("uncertainStepReversed" on COMPENSATION_STARTED or SAGA_FAILED).
    // So is one whose answer the engine refused although it took effect (a payment
    // authorized for another amount): that STEP_FAILED keeps the answer ("answered"),
    // and the reversal goes to the id it names (context, as for a completed step).
    std::optional<SagaStep> reversalOwed;
    // The owed reversal could not be done: what the service answered last (the
    // SAGA_FAILED that follows keeps it after "compensation incomplete: ").
    ErrorInfo reversalFailure;

    // Runtime only (not persisted).
    std::optional<bool> reversalDone; // the owed reversal's outcome, until recorded
    int reversalAttempts = 0;          // ... how many calls it took, or were made before giving up
    bool reversalResumed = false;      // ... counted since this engine loaded the saga (earlier ones unknown)
    ErrorInfo reversalLastFailure;     // ... and what the last failed one answered
    QString reversalNote;              // ... and what the successful one said, if worth recording
    bool awaitingCommit = false;  // a transition of this saga is queued or being committed
    bool endQueued = false;       // its queued transitions end the execution (not yet committed)
    qint64 lastQueuedSeq = 0;     // seq of its last queued transition (awaitingCommit until that one committed)
    bool callInFlight = false;    // a step call is out
    // When the compensation under way began (ms since epoch; 0 = none): the time of
    // the event that started it (COMPENSATION_STARTED of its step, or the STEP_FAILED
    // that owes a reversal), so it is folded from the record and a restart does not
    // give a failing compensation its budget afresh.
    qint64 compensationSince = 0;
    bool compensationResumed = false; // ... and it was under way when this engine loaded the saga
    qint64 compensationDeadline = 0; // ms since epoch; 0 = not started
    int compensationAttempts = 0;    // failed attempts of the compensation under way (by this engine)
    ErrorInfo compensationLastFailure; // ... and what the last one answered
    bool compensationLastInjected = false;
    QString requestDigest;        // placed here with an Idempotency-Key: IdempotentOrder::requestDigest
    qint64 substitutedSeq = 0;    // seq whose refused transition was replaced (see Orchestrator::recordableInstead)
    // Forward calls made of each step while in this state. A step found in progress
    // when the saga was loaded counts one: an earlier engine (or this one, before it
    // lost the lease) may have made it, so a call of it now that is not sent does not
    // prove that nothing was done.
    std::array<int, kStepCount> forwardCalls{};
    // The step found in progress when the saga was loaded (taken over after a crash,
    // a stop or a lost lease), and when this engine first called it (ms since epoch;
    // 0 = not yet): its forward end records that as details.resumedAt, so the wait
    // for the lease is not counted as the step's work (resumedAttemptStart).
    std::optional<SagaStep> resumedStep;
    qint64 resumedCallAt = 0;

    // A compensation starts, ends or gives up: its attempts are counted afresh.
    void resetCompensationAttempts();

    StepStatus &step(SagaStep s) { return steps[size_t(s)]; }
    StepStatus step(SagaStep s) const { return steps[size_t(s)]; }
    bool isTerminal() const;

    // Folds one committed (or about to be committed) event of this saga.
    void apply(const OrderEvent &event);
    // The event after an owed reversal says what came of it.
    void settleReversal(const QJsonObject &details);
    // Order data from the stored record.
    void setOrder(const OrderRecord &order);
    // Rebuilds the state from the order and all its events (the last execution counts).
    static SagaState fromHistory(const OrderRecord &order, const QVector<OrderEvent> &events);
};
