#pragma once

// Helpers shared by the engine tests (header-only; each test includes it).

#include "faultinjector.h"
#include "orchestrator.h"
#include "orderprogress.h"
#include "simulatedstepclient.h"
#include "stepclient.h"

#include <QHash>
#include <QSet>
#include <QSignalSpy>
#include <QTest>
#include <QUuid>
#include <map>
#include <memory>
#include <optional>
#include <utility>

// The model's toString(enum) returns QString and wins ADL inside QCOMPARE: compare texts.
#define QCOMPARE_ENUM(actual, expected) QCOMPARE(toString(actual), toString(expected))

// Records every request, then forwards to a simulated client.
class RecordingStepClient : public StepClient
{
public:
    explicit RecordingStepClient(std::unique_ptr<StepClient> inner)
        : m_inner(std::move(inner))
    {
    }
    void call(const StepRequest &request, std::function<void(StepOutcome)> done) override
    {
        requests.append(request);
        m_inner->call(request, std::move(done));
    }
    QString describe() const override { return QStringLiteral("recording ") + m_inner->describe(); }
    StepClient *inner() const { return m_inner.get(); }

    QVector<StepRequest> requests;

private:
    std::unique_ptr<StepClient> m_inner;
};

// The step calls made for one order, in order: "Inventory+" forward, "Payment-" compensation.
inline QStringList requestsSummary(const RecordingStepClient *rec, const QUuid &orderId)
{
    QStringList out;
    for (const StepRequest &r : rec->requests) {
        if (r.orderId == orderId)
            out << stepDisplayName(r.step).section(QLatin1Char(' '), 0, 0)
                    + (r.action == StepAction::Forward ? QStringLiteral("+") : QStringLiteral("-"));
    }
    return out;
}

inline OrderRequest sampleOrder(const QString &productId = QStringLiteral("widget-1"),
                                const QString &payment = QStringLiteral("visa-4242"),
                                const QString &postalCode = QStringLiteral("62701"),
                                const QString &country = QStringLiteral("US"))
{
    OrderRequest r;
    r.customerId = QUuid::createUuid();
    r.items = {OrderItem{productId, QStringLiteral("Widget"), 2, 1250}, OrderItem{QStringLiteral("gadget-7"), QStringLiteral("Gadget"), 1, 4999}};
    r.paymentMethodId = payment;
    r.shippingAddress = ShippingAddress{QStringLiteral("1 Main St"), QStringLiteral("Springfield"), QStringLiteral("IL"),
                                        postalCode, country};
    r.traceId = QStringLiteral("4bf92f3577b34da6a3ce929d0e0e4736");
    return r;
}

// An orchestrator running in the test thread, collecting committed events.
struct EngineHarness {
    std::shared_ptr<FaultInjector> faults = std::make_shared<FaultInjector>();
    std::unique_ptr<Orchestrator> orchestrator;
    RecordingStepClient *recorder = nullptr;  // owned by the orchestrator
    SimulatedStepClient *simulated = nullptr; // owned by the recorder
    QVector<OrderEvent> events;               // every committed event, in commit order
    QVector<bool> availability;
    QVector<StoreError::Outage> outages; // the kind of each outage announced (and of each change)

    // The orchestrator goes first: its destructor commits what is with its committers
    // and reports it (eventsCommitted, availability) to the lambdas below, which write
    // into the members above; destroyed in declaration order, they were gone by then.
    ~EngineHarness() { orchestrator.reset(); }

    bool start(const EngineConfig &config, QString *error, std::unique_ptr<StepClient> client = {})
    {
        orchestrator = std::make_unique<Orchestrator>(config, faults);
        if (!client) {
            auto sim = std::make_unique<SimulatedStepClient>(faults, config.stepDelayMs, config.stepTimeoutMs);
            simulated = sim.get();
            client = std::move(sim);
        }
        auto rec = std::make_unique<RecordingStepClient>(std::move(client));
        recorder = rec.get();
        orchestrator->setStepClient(std::move(rec));
        QObject::connect(orchestrator.get(), &Orchestrator::eventsCommitted,
                         [this](const QVector<OrderEvent> &batch) { events += batch; });
        QObject::connect(orchestrator.get(), &Orchestrator::databaseAvailabilityChanged,
                         [this](bool available, const QString &, StoreError::Outage outage) {
                             availability.append(available);
                             if (!available)
                                 outages.append(outage);
                         });
        return orchestrator->initialize(error);
    }

    QUuid submit(const OrderRequest &request, QString *orderNumber = nullptr)
    {
        // Shared state: an answer arriving after the wait gave up must not write into this frame.
        auto answer = std::make_shared<std::optional<SubmitResult>>();
        orchestrator->submit(request, [answer](SubmitResult r) { *answer = r; });
        if (!QTest::qWaitFor([&] { return answer->has_value(); }, 30000))
            return {};
        const SubmitResult result = **answer;
        if (orderNumber)
            *orderNumber = result.orderNumber;
        return result.error.ok() ? result.orderId : QUuid();
    }

    QVector<OrderEvent> eventsOf(const QUuid &orderId) const
    {
        QVector<OrderEvent> out;
        for (const OrderEvent &e : events) {
            if (e.orderId == orderId)
                out.append(e);
        }
        return out;
    }

    // Folds the order's events with the shared model fold; *rejected names the first rejection.
    OrderProgress progress(const QUuid &orderId, QString *rejected = nullptr) const
    {
        OrderProgress p(orderId);
        for (const OrderEvent &e : eventsOf(orderId)) {
            const FoldResult r = p.apply(e);
            if (r.outcome == FoldResult::Rejected && rejected && rejected->isEmpty())
                *rejected = QStringLiteral("seq %1 %2: %3").arg(e.seq).arg(toString(e.type), r.error);
        }
        return p;
    }

    bool waitTerminal(const QUuid &orderId, int timeoutMs = 30000) const
    {
        return QTest::qWaitFor([&] { return progress(orderId).isTerminal(); }, timeoutMs);
    }

    QStringList typesOf(const QUuid &orderId) const
    {
        QStringList out;
        for (const OrderEvent &e : eventsOf(orderId))
            out << (toString(e.type) + (e.step ? QLatin1Char(':') + stepDisplayName(*e.step).section(QLatin1Char(' '), 0, 0) : QString()));
        return out;
    }

    RetryDecision retry(const RetryRequest &request)
    {
        auto answer = std::make_shared<std::optional<RetryDecision>>();
        orchestrator->retry(request, [answer](RetryDecision d) { *answer = d; });
        if (!QTest::qWaitFor([&] { return answer->has_value(); }, 30000)) {
            RetryDecision decision;
            decision.reason = QStringLiteral("no answer");
            return decision;
        }
        return **answer;
    }

    RetryEligibility eligibility(const QUuid &orderId, StoreError *error = nullptr)
    {
        RetryEligibility result;
        auto answer = std::make_shared<std::optional<std::pair<RetryEligibility, StoreError>>>();
        orchestrator->eligibility(orderId, [answer](RetryEligibility e, StoreError err) { *answer = std::make_pair(e, err); });
        if (!QTest::qWaitFor([&] { return answer->has_value(); }, 30000)) {
            result.reason = QStringLiteral("no answer");
            return result;
        }
        if (error)
            *error = (*answer)->second;
        return (*answer)->first;
    }
};

// The simulated services' ledger agrees with the committed events: each forward
// action that was called took effect exactly when its step completed
// (STEP_COMPLETED committed) in that execution, and was reversed exactly when the
// execution compensated that step, however often the engine drove the call. An
// order retried has one execution per attempt (its SAGA_STARTED's executionId).
// Empty when it holds, else the first disagreement.
inline QString checkEffectsMatchEvents(const SimulatedStepClient &simulated, const QVector<StepRequest> &requests,
                                       const QVector<OrderEvent> &events)
{
    QHash<QUuid, QString> executionOf; // the order's current execution, walking the events
    QSet<QPair<QString, int>> completed, compensated;
    for (const OrderEvent &e : events) {
        if (e.type == EventType::SagaStarted)
            executionOf.insert(e.orderId, e.details.value(QLatin1String("executionId")).toString());
        if (!e.step)
            continue;
        const QPair<QString, int> step{executionOf.value(e.orderId), int(*e.step)};
        if (e.type == EventType::StepCompleted)
            completed.insert(step);
        else if (e.type == EventType::StepCompensated)
            compensated.insert(step);
    }
    int checked = 0;
    for (const StepRequest &r : requests) {
        if (r.action != StepAction::Forward)
            continue;
        ++checked;
        const QPair<QString, int> step{r.executionId, int(r.step)};
        const int effect = simulated.effectCount(r.idempotencyKey);
        const int reversal = simulated.reversalCount(r.idempotencyKey);
        if (effect != (completed.contains(step) ? 1 : 0))
            return QStringLiteral("%1: took effect %2 time(s), step %3 in the events")
                .arg(r.idempotencyKey)
                .arg(effect)
                .arg(completed.contains(step) ? QStringLiteral("completed") : QStringLiteral("not completed"));
        if (reversal != (compensated.contains(step) ? 1 : 0))
            return QStringLiteral("%1: reversed %2 time(s), step %3 in the events")
                .arg(r.idempotencyKey)
                .arg(reversal)
                .arg(compensated.contains(step) ? QStringLiteral("compensated") : QStringLiteral("not compensated"));
    }
    if (checked == 0)
        return QStringLiteral("no forward call was recorded");
    return {};
}

// Every order's event sequence folds without a rejection and with gap-free seqs.
// Which position order `events` must be in: all of them (one commit connection,
// or events read back from the store), or each order's own (an engine with several
// commit connections reports two batches committed at the same time in either order).
enum class PositionOrder { Global, PerOrder };

inline QString checkAllFold(const QVector<OrderEvent> &events, PositionOrder order = PositionOrder::Global)
{
    std::map<QUuid, OrderProgress> folded;
    std::map<QUuid, qint64> lastSeq;
    std::map<QUuid, qint64> lastOfOrder;
    qint64 lastPosition = 0;
    for (const OrderEvent &e : events) {
        qint64 &last = order == PositionOrder::Global ? lastPosition : lastOfOrder[e.orderId];
        if (e.position <= last)
            return QStringLiteral("positions not increasing at %1").arg(e.position);
        last = e.position;
        if (e.seq != lastSeq[e.orderId] + 1)
            return QStringLiteral("seq gap for %1: %2 after %3").arg(e.orderId.toString()).arg(e.seq).arg(lastSeq[e.orderId]);
        lastSeq[e.orderId] = e.seq;
        auto it = folded.find(e.orderId);
        if (it == folded.end())
            it = folded.emplace(e.orderId, OrderProgress(e.orderId)).first;
        const FoldResult r = it->second.apply(e);
        if (r.outcome != FoldResult::Applied)
            return QStringLiteral("fold %1 of %2 seq %3: %4").arg(toString(e.type), e.orderId.toString()).arg(e.seq).arg(r.error);
    }
    return {};
}
