#pragma once

// What a step client is asked to do and what it answers. Shared by the
// simulated and the HTTP step clients.

#include "orderevent.h"
#include "orderrecord.h"
#include "sagastatus.h"

#include <QJsonObject>
#include <QJsonValue>
#include <QString>
#include <QUuid>
#include <QVector>
#include <array>

enum class StepAction : quint8 {
    Forward,    // reserve inventory / authorize payment / create shipment
    Compensate, // release inventory / void payment / cancel shipment
};

// Outputs of the forward steps so far (reservationId, authorizationId, shipmentId,
// ...): each completed step's result as it was recorded, not merged into one
// object (the engine folds every saga's events several times; merging copied and
// re-inserted every key each time). A key of a later step wins over the same key
// of an earlier one, as if the results had been merged in step order.
class StepContext
{
public:
    void set(SagaStep step, const QJsonObject &result) { m_results[size_t(step)] = result; }
    void clear() { m_results.fill(QJsonObject()); }
    bool contains(QStringView key) const;
    QJsonValue value(QStringView key) const; // Undefined when no step gave it
    QJsonValue value(const QString &key) const { return value(QStringView(key)); } // also literals, QLatin1String
    // What that one step answered (its own result only: a step's handle is never
    // read from another step's answer).
    QJsonValue value(SagaStep step, QStringView key) const { return m_results[size_t(step)].value(key); }
    QJsonValue value(SagaStep step, QLatin1String key) const { return m_results[size_t(step)].value(key); }
    bool isEmpty() const;

private:
    std::array<QJsonObject, kStepCount> m_results;
};

struct StepRequest {
    SagaStep step = SagaStep::Inventory;
    StepAction action = StepAction::Forward;
    QUuid orderId;
    QString executionId;
    // One key per (execution, step, action); the same key when a call is driven again
    // (after a restart or a transport retry), so the service applies it at most once.
    QString idempotencyKey;
    QUuid customerId;
    QVector<OrderItem> items;
    QString paymentMethodId;
    ShippingAddress shippingAddress;
    qint64 totalInCents = 0;
    // Outputs of the forward steps so far (reservationId, authorizationId, shipmentId, ...);
    // a compensation finds the id of what it reverses here (absent: the forward call never
    // happened, and the compensation is a no-op success).
    StepContext context;
};

struct StepOutcome {
    bool ok = false;
    ErrorInfo error;        // when !ok: code (INVENTORY_UNAVAILABLE, STEP_TIMEOUT, ...) and message
    bool injected = false;  // the failure came from the fault plan
    // The call provably never reached the service (connection refused, no such host,
    // on every attempt): nothing can have been done, so nothing is to be reversed.
    bool notSent = false;
    QJsonObject result;     // forward success: reservationId | authorizationId | shipmentId,
                            // trackingNumber, estimatedDelivery
    // A success the record should say more of, in the service's terms: a compensation
    // answered 404 or 410 ("HTTP 404: nothing to reverse"), kept in its event's
    // details (STEP_COMPENSATED `answer`) so support can see it was no real reversal.
    QString note;
    static StepOutcome success(QJsonObject result = {})
    {
        StepOutcome o;
        o.ok = true;
        o.result = std::move(result);
        return o;
    }
    static StepOutcome failure(QString code, QString message, bool injected = false)
    {
        StepOutcome o;
        o.error = ErrorInfo{std::move(code), std::move(message)};
        o.injected = injected;
        return o;
    }
    static StepOutcome notMade(QString code, QString message)
    {
        StepOutcome o = failure(std::move(code), std::move(message));
        o.notSent = true;
        return o;
    }
};

// Idempotency key of one step action of one execution: "<executionId>:<step>:<action>".
QString stepIdempotencyKey(const QString &executionId, SagaStep step, StepAction action);
