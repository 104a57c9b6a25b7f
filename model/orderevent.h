#pragma once

#include "sagastatus.h"

#include <QDateTime>
#include <QJsonObject>
#include <QMetaType>
#include <QUuid>
#include <QVector>

// The seed's StatusEventType values (OrderStatusEvent.eventType).
enum class EventType : quint8 {
    SagaStarted,         // seq 1 of each execution; QUEUED. A retry starts a new execution.
    StepStarted,         // step -> IN_PROGRESS, overall -> IN_PROGRESS
    StepCompleted,       // step -> COMPLETED
    StepFailed,          // forward failure: step -> FAILED, later pending steps -> SKIPPED;
                         // with details.phase == "COMPENSATION": compensation gave up,
                         // step COMPENSATING -> FAILED
    CompensationStarted, // without step: overall -> ROLLING_BACK; with step: step -> COMPENSATING
    StepCompensated,     // step COMPENSATING -> COMPENSATED
    SagaCompleted,       // overall -> COMPLETED
    SagaFailed,          // overall -> ROLLED_BACK (all compensated) or FAILED
    // Read, never written: a stored type this program does not know (written by a
    // newer one during a rolling upgrade, or by hand). It takes its seq and changes
    // nothing else, so the order's later events still apply; its name is kept in
    // OrderEvent::typeName and passed on as it was.
    Unrecognized,
};
constexpr int kEventTypeCount = 8; // the known types, SagaStarted .. SagaFailed

// The contract name of a known type; "UNRECOGNIZED" for Unrecognized (an event's
// own name is eventTypeName()).
QString toString(EventType type);
// A known type by its name; nullopt for any other text.
std::optional<EventType> eventTypeFromString(QStringView text);

// Error information carried by STEP_FAILED and SAGA_FAILED.
struct ErrorInfo {
    QString code;    // e.g. PAYMENT_DECLINED
    QString message; // human readable
    bool isNull() const { return code.isEmpty() && message.isEmpty(); }
    bool operator==(const ErrorInfo &o) const { return code == o.code && message == o.message; }
    bool operator!=(const ErrorInfo &o) const { return !(*this == o); }
};

// One committed transition of one order. Every reader folds the same events.
//
// Well-known `details` keys (all optional, all JSON):
//   SAGA_STARTED:   orderNumber, customerId, executionId, attemptNumber, isRetry,
//                   traceId, totalInCents, resumedFromStep
//   STEP_STARTED:   idempotencyKey
//   STEP_COMPLETED: reservationId | authorizationId | shipmentId, trackingNumber,
//                   estimatedDelivery; resumed, resumedAt (see resumedAttemptStart)
//   STEP_FAILED:    phase ("FORWARD" | "COMPENSATION"), retryable, injected (true when
//                   the failure came from the fault plan), suggestedAction; a forward
//                   one also resumed, resumedAt
//   SAGA_COMPLETED: confirmationNumber, totalChargedInCents, estimatedDelivery
//   SAGA_FAILED:    failedStep, compensationIncomplete
// The error (code, message) travels as details.error = {code, message} in JSON.
struct OrderEvent {
    QUuid orderId;
    qint64 seq = 0;      // per-order sequence, 1-based, gap-free
    qint64 position = 0; // global commit-ordered position; 0 = unknown
    EventType type = EventType::SagaStarted;
    std::optional<SagaStep> step;
    QDateTime timestamp; // UTC
    QJsonObject details;
    ErrorInfo error;
    QString typeName;    // the stored name when type is Unrecognized; empty otherwise

    bool operator==(const OrderEvent &o) const;
    bool operator!=(const OrderEvent &o) const { return !(*this == o); }
};

Q_DECLARE_METATYPE(OrderEvent)

// Keeps, in `details`, the details of the current execution's end: those of a
// SAGA_COMPLETED / SAGA_FAILED, emptied again by a SAGA_STARTED (a retry).
inline void keepEndDetails(QJsonObject *details, const OrderEvent &event)
{
    if (event.type == EventType::SagaCompleted || event.type == EventType::SagaFailed)
        *details = event.details;
    else if (event.type == EventType::SagaStarted)
        *details = {};
}

// A step taken over after an interruption (the engine that started it crashed or
// stopped; another engine, or the same one restarted, drove it again with the same
// idempotency key once the lease had run out) ends with details.resumed = true and
// details.resumedAt = when the attempt that finished it started (ISO-8601 UTC with
// ms), on its STEP_COMPLETED or forward STEP_FAILED. Returns that time; null when
// the event is no such end or has none (a step that ran in one go, a record from before engines said
// so), it cannot be read, or it is later than the event itself.
QDateTime resumedAttemptStart(const OrderEvent &event);

// The event's type as stored: the contract name, or the name of an Unrecognized one.
QString eventTypeName(const OrderEvent &event);
// The type stored as `text`: a known one, or Unrecognized with its name in
// event->typeName (cleared for a known one).
void setEventType(OrderEvent *event, QStringView text);

using OrderEventList = QVector<OrderEvent>;
Q_DECLARE_METATYPE(OrderEventList)
