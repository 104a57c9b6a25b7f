#include "simulatedstepclient.h"

#include "faultinjector.h"

#include <QCryptographicHash>
#include <QDate>
#include <QDateTime>
#include <QTimer>

namespace {

QString derivedId(const QString &prefix, const QString &key)
{
    const QByteArray hash = QCryptographicHash::hash(key.toUtf8(), QCryptographicHash::Sha1).toHex().toUpper();
    return prefix + QString::fromLatin1(hash.left(12));
}

QString defaultFailureCode(SagaStep step)
{
    switch (step) {
    case SagaStep::Inventory:
        return QStringLiteral("INVENTORY_UNAVAILABLE");
    case SagaStep::Payment:
        return QStringLiteral("PAYMENT_DECLINED");
    case SagaStep::Shipping:
        return QStringLiteral("SHIPPING_UNAVAILABLE");
    }
    return QStringLiteral("SERVICE_UNAVAILABLE");
}

} // namespace

SimulatedStepClient::SimulatedStepClient(std::shared_ptr<FaultInjector> faults, int latencyMs, int timeoutMs,
                                         int ledgerLimit)
    : m_faults(std::move(faults))
    , m_latencyMs(qMax(0, latencyMs))
    , m_timeoutMs(qMax(1, timeoutMs))
    , m_ledgerLimit(qMax(1, ledgerLimit))
{
    m_clock.start();
    m_timer.setSingleShot(true);
    m_timer.setTimerType(Qt::PreciseTimer);
    QObject::connect(&m_timer, &QTimer::timeout, [this] { fireDue(); });
}

SimulatedStepClient::~SimulatedStepClient() = default;

QString SimulatedStepClient::describe() const
{
    return QStringLiteral("simulated (latency %1 ms)").arg(m_latencyMs);
}

void SimulatedStepClient::call(const StepRequest &request, std::function<void(StepOutcome)> done)
{
    ++m_calls;
    const bool compensation = request.action == StepAction::Compensate;
    const std::optional<StepFault> fault = m_faults ? m_faults->take(request.step, compensation) : std::nullopt;
    int delay = m_latencyMs;
    if (fault && fault->kind == StepFault::Kind::Timeout) {
        // The service never answers: the call times out (and had no effect).
        after(m_timeoutMs, [done = std::move(done)] {
            done(StepOutcome::failure(QStringLiteral("STEP_TIMEOUT"),
                                      QStringLiteral("The step service did not answer in time (injected)."), true));
        });
        return;
    }
    if (fault && fault->kind == StepFault::Kind::Fail) {
        const QString code = fault->errorCode.isEmpty() ? defaultFailureCode(request.step) : fault->errorCode;
        after(delay, [done = std::move(done), code] {
            done(StepOutcome::failure(code, QStringLiteral("Injected failure (%1).").arg(code), true));
        });
        return;
    }
    if (fault && fault->kind == StepFault::Kind::Delay)
        delay += qMax(0, fault->delayMs);
    const bool failCompensation = fault && fault->kind == StepFault::Kind::FailCompensation;
    after(delay, [this, request, failCompensation, done = std::move(done)] {
        done(perform(request, failCompensation));
    });
}

void SimulatedStepClient::after(int delayMs, std::function<void()> fn)
{
    const qint64 due = m_clock.elapsed() + qMax(0, delayMs);
    const bool earliest = m_due.empty() || due < m_due.begin()->first;
    m_due.emplace_hint(m_due.end(), due, std::move(fn)); // after any equal key: call order kept
    if (earliest || !m_timer.isActive())
        m_timer.start(int(qMax<qint64>(0, due - m_clock.elapsed())));
}

void SimulatedStepClient::fireDue()
{
    // Answers that come due while others run (a callback may call again) wait for
    // the next round, so this returns to the event loop in between.
    const qint64 now = m_clock.elapsed();
    std::vector<std::function<void()>> ready;
    while (!m_due.empty() && m_due.begin()->first <= now) {
        ready.push_back(std::move(m_due.begin()->second));
        m_due.erase(m_due.begin());
    }
    if (!m_due.empty())
        m_timer.start(int(qMax<qint64>(0, m_due.begin()->first - now)));
    const std::weak_ptr<int> alive = m_alive;
    for (std::function<void()> &fn : ready) {
        if (alive.expired())
            return; // a callback destroyed this client: the rest are dropped, as its timers were
        fn();
    }
}

void SimulatedStepClient::recordEffect(const QString &forwardKey)
{
    if (m_effects.contains(forwardKey))
        return; // driven again: the same effect, once
    m_effects.insert(forwardKey, 1);
    m_ledgerOrder.push_back(forwardKey);
    while (int(m_ledgerOrder.size()) > m_ledgerLimit) {
        m_effects.remove(m_ledgerOrder.front());
        m_reversals.remove(m_ledgerOrder.front());
        m_ledgerOrder.pop_front();
    }
}

StepOutcome SimulatedStepClient::perform(const StepRequest &request, bool injectedCompensationFailure)
{
    const QString forwardKey = stepIdempotencyKey(request.executionId, request.step, StepAction::Forward);
    if (request.action == StepAction::Compensate) {
        if (injectedCompensationFailure)
            return StepOutcome::failure(QStringLiteral("COMPENSATION_FAILED"),
                                        QStringLiteral("The compensation failed (injected)."), true);
        // Idempotent: reverse only an effect that happened and was not reversed yet.
        if (m_effects.value(forwardKey) > 0 && m_reversals.value(forwardKey) == 0)
            m_reversals.insert(forwardKey, 1);
        return StepOutcome::success();
    }

    switch (request.step) {
    case SagaStep::Inventory:
        for (const OrderItem &item : request.items) {
            if (item.productId == QLatin1String("out-of-stock-product"))
                return StepOutcome::failure(QStringLiteral("INVENTORY_UNAVAILABLE"),
                                            QStringLiteral("Item %1 is out of stock.").arg(item.productId));
        }
        recordEffect(forwardKey);
        return StepOutcome::success({{QStringLiteral("reservationId"), derivedId(QStringLiteral("RES-"), forwardKey)}});
    case SagaStep::Payment:
        if (request.paymentMethodId == QLatin1String("declined-card"))
            return StepOutcome::failure(QStringLiteral("PAYMENT_DECLINED"), QStringLiteral("Payment declined"));
        if (request.paymentMethodId == QLatin1String("fraud-card"))
            return StepOutcome::failure(QStringLiteral("FRAUD_DETECTED"), QStringLiteral("Payment flagged as fraudulent"));
        recordEffect(forwardKey);
        return StepOutcome::success({{QStringLiteral("authorizationId"), derivedId(QStringLiteral("AUTH-"), forwardKey)},
                                     {QStringLiteral("amountInCents"), request.totalInCents}});
    case SagaStep::Shipping: {
        if (request.shippingAddress.postalCode == QLatin1String("00000"))
            return StepOutcome::failure(QStringLiteral("INVALID_ADDRESS"), QStringLiteral("Invalid shipping address"));
        if (request.shippingAddress.country == QLatin1String("XX"))
            return StepOutcome::failure(QStringLiteral("SHIPPING_UNAVAILABLE"),
                                        QStringLiteral("Shipping is not available to this destination"));
        recordEffect(forwardKey);
        const QString delivery = QDateTime::currentDateTimeUtc().date().addDays(5).toString(Qt::ISODate);
        return StepOutcome::success({{QStringLiteral("shipmentId"), derivedId(QStringLiteral("SHP-"), forwardKey)},
                                     {QStringLiteral("trackingNumber"), derivedId(QStringLiteral("TRK"), forwardKey)},
                                     {QStringLiteral("estimatedDelivery"), delivery}});
    }
    }
    return StepOutcome::failure(QStringLiteral("SERVICE_UNAVAILABLE"), QStringLiteral("Unknown step."));
}
