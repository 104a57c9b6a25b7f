#pragma once

// One saga transition as the engine hands it to the store: the event to append
// (with the per-order seq the engine assigned) and the new state it implies.
// SagaStore::commitTransitions writes a batch of these in one transaction.

#include "orderevent.h"
#include "orderrecord.h"
#include "sagastatus.h"

#include <QByteArray>
#include <QJsonObject>
#include <QString>
#include <optional>

struct StoreTransition {
    OrderEvent event;            // orderId, seq, type, step, timestamp, details, error
    QString executionId;
    int attemptNumber = 1;
    OverallStatus overall = OverallStatus::Queued; // execution status after the event
    std::optional<SagaStep> currentStep;           // execution's current step after the event
    std::optional<StepStatus> stepStatus;          // new status of event.step (step events)
    QJsonObject stepResult;                        // STEP_COMPLETED: the step's context output

    // SAGA_STARTED of attempt 1: the order to create. The store assigns the order
    // number and writes it into the event's details.orderNumber.
    std::optional<OrderRequest> newOrder;
    QUuid newOrderId; // id for newOrder (same as event.orderId)
    // newOrder's id was derived from an Idempotency-Key (idempotentorder.h), so
    // another request (another engine) may have written it first: the store checks,
    // inside the batch's transaction, and leaves this saga's transitions out if so
    // (SagaStore::commitTransitions), instead of refusing the batch.
    bool newOrderMayExist = false;

    // SAGA_STARTED of a retry: corrections to apply to the order and the
    // retry_attempts row to insert (resumedFromStep is a step display name).
    std::optional<RetryRequest> retry;
    QString resumedFromStep;

    // The stored text of this transition, worked out ahead by BatchPlan::encode in
    // the thread that makes it, so the committing thread mostly binds bytes. Null
    // members are worked out at commit (as for a transition never encoded).
    struct Encoded {
        QByteArray orderId, executionId; // UTF-8 text of the ids
        QByteArray details;              // order_events.details; null for a new order's SAGA_STARTED (its number is added at commit)
        QByteArray stepResult;           // saga_step_results.result (STEP_COMPLETED)
    } encoded;
};

// An execution this engine now holds a lease on (SagaStore::claimSagas).
struct ClaimedExecution {
    QString executionId;
    QUuid orderId;
    int attemptNumber = 1;
};
