#pragma once

// Test helper (header only, shared by the model tests and bench_model): builds
// the event sequences the orchestrator emits for each way a saga can end.

#include "orderevent.h"

#include <QJsonObject>
#include <QUuid>
#include <QVector>

// QCOMPARE cannot print the status enums (their toString() returns QString and
// shadows QTest::toString through ADL), so compare their API names instead.
#define QCOMPARE_STATUS(actual, expected) QCOMPARE(toString(actual), toString(expected))

namespace SagaScenarios {

enum class Kind {
    Success,            // 8 events, COMPLETED
    InventoryFails,     // first step fails, nothing to compensate: FAILED
    PaymentFails,       // inventory compensated: ROLLED_BACK
    ShippingFails,      // payment and inventory compensated: ROLLED_BACK
    CompensationFails,  // payment fails, releasing inventory fails: FAILED (incomplete)
    RetryThenSuccess,   // PaymentFails, then attempt 2 succeeds: COMPLETED
};
constexpr int kKindCount = 6;

inline const char *kindName(Kind k)
{
    switch (k) {
    case Kind::Success: return "success";
    case Kind::InventoryFails: return "inventory-fails";
    case Kind::PaymentFails: return "payment-fails";
    case Kind::ShippingFails: return "shipping-fails";
    case Kind::CompensationFails: return "compensation-fails";
    case Kind::RetryThenSuccess: return "retry-then-success";
    }
    return "?";
}

inline QDateTime baseTime()
{
    return QDateTime(QDate(2024, 1, 10), QTime(14, 30, 0), Qt::UTC);
}

// Appends events for one order, numbering seq and advancing the clock.
class Builder
{
public:
    explicit Builder(const QUuid &orderId, const QDateTime &start = baseTime(), qint64 stepMs = 100)
        : m_orderId(orderId), m_time(start), m_stepMs(stepMs)
    {
    }

    OrderEvent &add(EventType type, std::optional<SagaStep> step = std::nullopt,
                    QJsonObject details = {}, ErrorInfo error = {})
    {
        OrderEvent e;
        e.orderId = m_orderId;
        e.seq = ++m_seq;
        e.type = type;
        e.step = step;
        e.timestamp = m_time;
        e.details = std::move(details);
        e.error = std::move(error);
        m_time = m_time.addMSecs(m_stepMs);
        m_events.append(e);
        return m_events.last();
    }

    void started(int attempt = 1, const QString &orderNumber = QStringLiteral("ORD-20240110-000001"))
    {
        QJsonObject d{{QStringLiteral("orderNumber"), orderNumber},
                      {QStringLiteral("customerId"), QStringLiteral("11111111-2222-3333-4444-555555555555")},
                      {QStringLiteral("traceId"), QStringLiteral("4bf92f3577b34da6a3ce929d0e0e4736")},
                      {QStringLiteral("attemptNumber"), attempt},
                      {QStringLiteral("executionId"), QStringLiteral("exec-%1").arg(attempt)}};
        if (attempt > 1)
            d.insert(QStringLiteral("isRetry"), true);
        add(EventType::SagaStarted, std::nullopt, d);
    }
    void stepOk(SagaStep s)
    {
        add(EventType::StepStarted, s);
        add(EventType::StepCompleted, s);
    }
    void stepFails(SagaStep s, const QString &code, const QString &message)
    {
        add(EventType::StepStarted, s);
        add(EventType::StepFailed, s, {{QStringLiteral("phase"), QStringLiteral("FORWARD")}},
            ErrorInfo{code, message});
    }
    void compensate(SagaStep s)
    {
        add(EventType::CompensationStarted, s);
        add(EventType::StepCompensated, s);
    }
    void completed()
    {
        add(EventType::SagaCompleted, std::nullopt,
            {{QStringLiteral("confirmationNumber"), QStringLiteral("CONF-1234")},
             {QStringLiteral("totalChargedInCents"), 4999}});
    }
    void failed(bool incomplete = false)
    {
        QJsonObject d;
        if (incomplete)
            d.insert(QStringLiteral("compensationIncomplete"), true);
        add(EventType::SagaFailed, std::nullopt, d);
    }

    QVector<OrderEvent> events() const { return m_events; }
    QDateTime time() const { return m_time; }

private:
    QUuid m_orderId;
    QDateTime m_time;
    qint64 m_stepMs;
    qint64 m_seq = 0;
    QVector<OrderEvent> m_events;
};

inline void appendKind(Builder &b, Kind kind, int attempt = 1)
{
    b.started(attempt);
    switch (kind) {
    case Kind::Success:
        b.stepOk(SagaStep::Inventory);
        b.stepOk(SagaStep::Payment);
        b.stepOk(SagaStep::Shipping);
        b.completed();
        break;
    case Kind::InventoryFails:
        b.stepFails(SagaStep::Inventory, QStringLiteral("INVENTORY_UNAVAILABLE"),
                    QStringLiteral("Product out-of-stock-product is out of stock"));
        b.failed();
        break;
    case Kind::PaymentFails:
    case Kind::RetryThenSuccess:
        b.stepOk(SagaStep::Inventory);
        b.stepFails(SagaStep::Payment, QStringLiteral("PAYMENT_DECLINED"), QStringLiteral("Payment declined"));
        b.add(EventType::CompensationStarted);
        b.compensate(SagaStep::Inventory);
        b.failed();
        if (kind == Kind::RetryThenSuccess) {
            b.started(attempt + 1);
            b.stepOk(SagaStep::Inventory);
            b.stepOk(SagaStep::Payment);
            b.stepOk(SagaStep::Shipping);
            b.completed();
        }
        break;
    case Kind::ShippingFails:
        b.stepOk(SagaStep::Inventory);
        b.stepOk(SagaStep::Payment);
        b.stepFails(SagaStep::Shipping, QStringLiteral("INVALID_ADDRESS"), QStringLiteral("Postal code 00000 is invalid"));
        b.add(EventType::CompensationStarted);
        b.compensate(SagaStep::Payment);
        b.compensate(SagaStep::Inventory);
        b.failed();
        break;
    case Kind::CompensationFails:
        b.stepOk(SagaStep::Inventory);
        b.stepFails(SagaStep::Payment, QStringLiteral("PAYMENT_DECLINED"), QStringLiteral("Payment declined"));
        b.add(EventType::CompensationStarted);
        b.add(EventType::CompensationStarted, SagaStep::Inventory);
        b.add(EventType::StepFailed, SagaStep::Inventory,
              {{QStringLiteral("phase"), QStringLiteral("COMPENSATION")}},
              ErrorInfo{QStringLiteral("COMPENSATION_FAILED"), QStringLiteral("Inventory service refused the release")});
        b.failed(true);
        break;
    }
}

inline QVector<OrderEvent> scenario(Kind kind, const QUuid &orderId,
                                    const QDateTime &start = baseTime(), qint64 stepMs = 100)
{
    Builder b(orderId, start, stepMs);
    appendKind(b, kind);
    return b.events();
}

} // namespace SagaScenarios
