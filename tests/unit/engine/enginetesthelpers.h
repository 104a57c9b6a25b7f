#pragma once

// Helpers shared by the engine tests (header-only; each test includes it).

#include "faultinjector.h"
#include "orchestrator.h"
#include "orderprogress.h"
#include "simulatedstepclient.h"
#include "stepclient.h"

#include <QDeadlineTimer>
#include <QHash>
#include <QJsonDocument>
#include <QMap>
#include <QRandomGenerator>
#include <QSet>
#include <QSignalSpy>
#include <QTest>
#include <QUuid>
#include <functional>
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

// What each execution of each order did, from its events and the step calls made
// for it: begins with SAGA_STARTED and ends with its one terminal event; steps
// forward in order; no step started once compensation began, and every
// compensation call after the execution's last forward call; steps compensated in
// reverse order, each one that had completed; a SAGA_COMPLETED with all three
// steps completed and nothing compensated. Empty when it holds, else the first
// breach (naming the order and execution).
inline QString checkExecutions(const QVector<OrderEvent> &events, const QVector<StepRequest> &requests)
{
    struct Execution {
        QUuid orderId;
        QVector<OrderEvent> events;
    };
    QVector<Execution> executions;
    QHash<QUuid, int> current; // order -> index in executions
    for (const OrderEvent &e : events) {
        if (e.type == EventType::SagaStarted) {
            current.insert(e.orderId, int(executions.size()));
            executions.append({e.orderId, {}});
        }
        if (!current.contains(e.orderId))
            return QStringLiteral("%1: %2 before any SAGA_STARTED").arg(e.orderId.toString(), toString(e.type));
        executions[current.value(e.orderId)].events.append(e);
    }
    QHash<QString, QVector<StepRequest>> callsOf;
    for (const StepRequest &r : requests)
        callsOf[r.executionId].append(r);
    for (const Execution &x : std::as_const(executions)) {
        const QString id = x.events.first().details.value(QLatin1String("executionId")).toString();
        const QString where = QStringLiteral("order %1 execution %2: ").arg(x.orderId.toString(), id);
        const EventType last = x.events.last().type;
        if (last != EventType::SagaCompleted && last != EventType::SagaFailed)
            return where + QStringLiteral("did not end (last event %1)").arg(toString(last));
        int terminals = 0, lastStarted = -1, lastCompensated = kStepCount;
        bool compensating = false;
        QSet<int> completed, compensated, compensationFailed;
        for (const OrderEvent &e : x.events) {
            const int step = e.step ? int(*e.step) : -1;
            switch (e.type) {
            case EventType::SagaCompleted:
            case EventType::SagaFailed:
                ++terminals;
                break;
            case EventType::StepStarted:
                if (compensating)
                    return where + QStringLiteral("step %1 started during compensation").arg(step);
                if (step <= lastStarted)
                    return where + QStringLiteral("step %1 started after step %2").arg(step).arg(lastStarted);
                lastStarted = step;
                break;
            case EventType::StepCompleted:
                completed.insert(step);
                break;
            case EventType::CompensationStarted:
                compensating = true;
                if (step >= 0) {
                    if (step >= lastCompensated)
                        return where + QStringLiteral("step %1 compensated after step %2").arg(step).arg(lastCompensated);
                    if (!completed.contains(step))
                        return where + QStringLiteral("step %1 compensated but never completed").arg(step);
                    lastCompensated = step;
                }
                break;
            case EventType::StepCompensated:
                compensated.insert(step);
                break;
            case EventType::StepFailed:
                if (e.details.value(QLatin1String("phase")).toString() == QLatin1String("COMPENSATION"))
                    compensationFailed.insert(step);
                break;
            case EventType::SagaStarted:
                break;
            case EventType::Unrecognized:
                return where + QStringLiteral("an engine wrote an event type it does not know: seq %1").arg(e.seq);
            }
        }
        if (terminals != 1)
            return where + QStringLiteral("%1 terminal events").arg(terminals);
        if (last == EventType::SagaCompleted && (completed.size() != kStepCount || compensating))
            return where + QStringLiteral("completed with %1 steps completed%2")
                               .arg(completed.size())
                               .arg(compensating ? QStringLiteral(" and a compensation") : QString());
        if (last == EventType::SagaFailed) {
            // Every completed step reversed, or its compensation given up and said so
            // (as is a failed call that may have taken effect and could not be reversed).
            const QJsonObject end = x.events.last().details;
            const bool incomplete = end.value(QLatin1String("compensationIncomplete")).toBool();
            const bool uncertainLeft = end.value(QLatin1String("uncertainStepReversed")) == QJsonValue(false);
            for (int step : std::as_const(completed)) {
                if (!compensated.contains(step) && !compensationFailed.contains(step))
                    return where + QStringLiteral("failed with step %1 completed and neither compensated nor its "
                                                  "compensation failed").arg(step);
            }
            if (incomplete != (!compensationFailed.isEmpty() || uncertainLeft))
                return where + QStringLiteral("compensationIncomplete %1 with %2 compensation(s) given up%3")
                                   .arg(incomplete)
                                   .arg(compensationFailed.size())
                                   .arg(uncertainLeft ? QStringLiteral(" and a failed call not reversed") : QString());
        }
        int lastForward = -1, firstCompensation = -1, forwardStep = -1, compensationStep = kStepCount;
        const QVector<StepRequest> calls = callsOf.value(id);
        for (int i = 0; i < calls.size(); ++i) {
            const int step = int(calls[i].step);
            if (calls[i].action == StepAction::Forward) {
                if (step < forwardStep)
                    return where + QStringLiteral("forward call of step %1 after step %2").arg(step).arg(forwardStep);
                forwardStep = step;
                lastForward = i;
            } else {
                if (step > compensationStep)
                    return where + QStringLiteral("compensation call of step %1 after step %2").arg(step).arg(compensationStep);
                compensationStep = step;
                if (firstCompensation < 0)
                    firstCompensation = i;
            }
        }
        if (firstCompensation >= 0 && firstCompensation < lastForward)
            return where + QStringLiteral("a forward call after the first compensation call");
        if (last == EventType::SagaCompleted && firstCompensation >= 0)
            return where + QStringLiteral("completed after a compensation call");
    }
    return {};
}
// A run of random fault plans (runRandomFaultPlans): what it did, for messages.
struct RandomFaultRun {
    quint32 seed = 0;
    QStringList plans;      // each round's plan as JSON, then the retries' plan
    QVector<QUuid> ids;     // the orders placed
    QVector<QUuid> retried; // those retried (attempt 2)
    QString failure;        // empty when every saga (and retry) ended
    QString said() const { return QStringLiteral(" (seed %1, plans %2)").arg(seed).arg(plans.join(QLatin1String(" | "))); }
    QString summary(const EngineHarness &h) const
    {
        QMap<QString, int> outcomes;
        for (const QUuid &id : ids)
            ++outcomes[toString(h.progress(id).overallStatus)];
        QStringList parts;
        for (auto it = outcomes.cbegin(); it != outcomes.cend(); ++it)
            parts << QStringLiteral("%1 %2").arg(it.key()).arg(it.value());
        return QStringLiteral("seed %1: %2; retried %3").arg(seed).arg(parts.join(QLatin1String(", "))).arg(retried.size());
    }
};

// Places 4 rounds of 12 random orders (business failures among them), each round
// under a new random fault plan (seeded by `seed`; set while the earlier rounds'
// sagas still run), waits for every saga to end, then retries every order the
// engine allows (correcting what it asks for) under another plan and waits for
// those. `betweenRounds(round)` runs after each round is placed (e.g. to take the
// database away). An order refused while the database is away is placed again.
inline RandomFaultRun runRandomFaultPlans(EngineHarness &h, quint32 seed,
                                          const std::function<void(int round)> &betweenRounds = {})
{
    RandomFaultRun run;
    run.seed = seed;
    QRandomGenerator rng(seed);
    const auto randomPlan = [&rng] {
        FaultPlan plan;
        for (int i = 0; i < kStepCount; ++i) {
            const SagaStep step = SagaStep(i);
            StepFault &f = plan[step];
            switch (rng.bounded(6u)) {
            case 0:
            case 1:
                break; // none
            case 2: {
                f.kind = StepFault::Kind::Fail;
                const QStringList codes = suggestedFaultCodes(step);
                f.errorCode = codes.at(int(rng.bounded(quint32(codes.size()))));
                break;
            }
            case 3:
                f.kind = StepFault::Kind::Delay;
                f.delayMs = int(rng.bounded(250u));
                break;
            case 4:
                f.kind = StepFault::Kind::Timeout;
                break;
            default:
                f.kind = StepFault::Kind::FailCompensation;
                break;
            }
            f.once = rng.bounded(2u) == 0;
            const double chances[] = {1.0, 0.5, 0.25};
            f.probability = chances[rng.bounded(3u)];
        }
        return plan;
    };
    const auto randomOrder = [&rng] {
        switch (rng.bounded(8u)) {
        case 0: return sampleOrder(QStringLiteral("out-of-stock-product"));
        case 1: return sampleOrder(QStringLiteral("w"), QStringLiteral("declined-card"));
        case 2: return sampleOrder(QStringLiteral("w"), QStringLiteral("fraud-card"));
        case 3: return sampleOrder(QStringLiteral("w"), QStringLiteral("visa-4242"), QStringLiteral("00000"));
        case 4: return sampleOrder(QStringLiteral("w"), QStringLiteral("visa-4242"), QStringLiteral("62701"), QStringLiteral("XX"));
        default: return sampleOrder();
        }
    };
    const auto setPlan = [&](const FaultPlan &plan, const QString &label) {
        h.faults->setPlan(plan);
        run.plans << label + QString::fromUtf8(QJsonDocument(plan.toJson()).toJson(QJsonDocument::Compact));
    };
    for (int round = 0; round < 4; ++round) {
        setPlan(randomPlan(), QString());
        for (int i = 0; i < 12; ++i) {
            const OrderRequest order = randomOrder();
            QUuid id;
            QDeadlineTimer deadline(60000);
            while ((id = h.submit(order)).isNull() && !deadline.hasExpired())
                QTest::qWait(100); // refused while the database is away: again
            if (id.isNull()) {
                run.failure = QStringLiteral("an order was refused for a minute");
                return run;
            }
            run.ids << id;
        }
        if (betweenRounds)
            betweenRounds(round);
    }
    for (const QUuid &id : std::as_const(run.ids)) {
        if (!h.waitTerminal(id, 60000)) {
            run.failure = QStringLiteral("did not end: ") + h.typesOf(id).join(QLatin1Char(' '));
            return run;
        }
    }
    setPlan(randomPlan(), QStringLiteral("retries: "));
    for (const QUuid &id : std::as_const(run.ids)) {
        if (h.progress(id).overallStatus == OverallStatus::Completed)
            continue;
        const RetryEligibility e = h.eligibility(id);
        if (!e.eligible)
            continue;
        RetryRequest request;
        request.orderId = id;
        if (e.requiredActions.contains(QLatin1String("UPDATE_PAYMENT_METHOD")))
            request.paymentMethodId = QStringLiteral("visa-4242");
        if (e.requiredActions.contains(QLatin1String("UPDATE_SHIPPING_ADDRESS")))
            request.shippingAddress = sampleOrder().shippingAddress;
        const RetryDecision d = h.retry(request);
        if (d.code != RetryDecision::Accepted) {
            run.failure = QStringLiteral("retry refused: ") + d.reason;
            return run;
        }
        run.retried << id;
    }
    for (const QUuid &id : std::as_const(run.retried)) {
        const bool ended = QTest::qWaitFor([&] {
            const OrderProgress p = h.progress(id);
            return p.attemptNumber == 2 && p.isTerminal();
        }, 60000);
        if (!ended) {
            run.failure = QStringLiteral("retry did not end: ") + h.typesOf(id).join(QLatin1Char(' '));
            return run;
        }
    }
    return run;
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
