#include "orderprogress.h"
#include "sagajson.h"
#include "sagascenarios.h"

#include <QtTest>
#include <algorithm>
#include <random>

using namespace SagaScenarios;

Q_DECLARE_METATYPE(SagaScenarios::Kind)
Q_DECLARE_METATYPE(OverallStatus)
Q_DECLARE_METATYPE(EventType)
using StepStatuses = QVector<int>;

namespace {

const QUuid kOrder = QUuid::fromString(QStringLiteral("550e8400-e29b-41d4-a716-446655440000"));

OrderProgress foldAll(const QVector<OrderEvent> &events)
{
    OrderProgress p(kOrder);
    for (const OrderEvent &e : events) {
        const FoldResult r = p.apply(e);
        if (r.outcome != FoldResult::Applied)
            qFatal("fold failed at seq %lld: %s", e.seq, qPrintable(r.error));
    }
    return p;
}

StepStatuses statusesOf(const OrderProgress &p)
{
    return {int(p.steps[0].status), int(p.steps[1].status), int(p.steps[2].status)};
}

StepStatuses st(StepStatus a, StepStatus b, StepStatus c)
{
    return {int(a), int(b), int(c)};
}

// Builder positioned after a prefix of events: `prefix` of the given kind's events.
QVector<OrderEvent> prefixOf(Kind kind, int count)
{
    return scenario(kind, kOrder).mid(0, count);
}

OrderEvent nextEvent(const QVector<OrderEvent> &prefix, EventType type,
                     std::optional<SagaStep> step = std::nullopt, QJsonObject details = {})
{
    OrderEvent e;
    e.orderId = kOrder;
    e.seq = prefix.isEmpty() ? 1 : prefix.last().seq + 1;
    e.type = type;
    e.step = step;
    e.timestamp = (prefix.isEmpty() ? baseTime() : prefix.last().timestamp).addMSecs(50);
    e.details = std::move(details);
    return e;
}

} // namespace

class tst_OrderProgress : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initialState();
    void happyPath();
    void scenarios_data();
    void scenarios();
    void duplicates_data();
    void duplicates();
    void gapsAreBufferedAndDrained();
    void bufferedDuplicate();
    void outOfOrderPermutations_data();
    void outOfOrderPermutations();
    void bufferOverflowRejects();
    void illegalTransitions_data();
    void illegalTransitions();
    void drainedIllegalEventIsDropped();
    void retryResetsFailedSteps_data();
    void retryResetsFailedSteps();
    void changeSets_data();
    void changeSets();
    void adoptsOrderIdWhenDefaultConstructed();
    void copyKeepsBuffer();
    void progressPercent_data();
    void progressPercent();
    void unansweredStepBeingReversedIsRollingBack_data();
    void unansweredStepBeingReversedIsRollingBack();
    void takenOverStepCountsItsResumedAttempt_data();
    void takenOverStepCountsItsResumedAttempt();
    void resumedStartIsClearedByANewStart();
    void unrecognizedEventTakesItsSeqOnly();
};

void tst_OrderProgress::initialState()
{
    const OrderProgress p(kOrder);
    QCOMPARE(p.orderId, kOrder);
    QCOMPARE_STATUS(p.overallStatus, OverallStatus::Queued);
    QVERIFY(!p.currentStep);
    QCOMPARE(p.lastSeq, 0);
    for (SagaStep s : kAllSteps) {
        QCOMPARE(p.step(s).step, s);
        QCOMPARE_STATUS(p.step(s).status, StepStatus::Pending);
        QVERIFY(p.step(s).startedAt.isNull());
    }
    QCOMPARE(p.progressPercent(), 0);
}

void tst_OrderProgress::happyPath()
{
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    QCOMPARE(events.size(), 8);
    OrderProgress p(kOrder);

    QCOMPARE(p.apply(events[0]).outcome, FoldResult::Applied);
    QCOMPARE_STATUS(p.overallStatus, OverallStatus::Queued);
    QCOMPARE(p.orderNumber, QStringLiteral("ORD-20240110-000001"));
    QCOMPARE(p.customerId, QUuid::fromString(QStringLiteral("11111111-2222-3333-4444-555555555555")));
    QCOMPARE(p.traceId, QStringLiteral("4bf92f3577b34da6a3ce929d0e0e4736"));
    QCOMPARE(p.attemptNumber, 1);
    QCOMPARE(p.createdAt, events[0].timestamp);

    QCOMPARE(p.apply(events[1]).outcome, FoldResult::Applied); // inventory started
    QCOMPARE_STATUS(p.overallStatus, OverallStatus::InProgress);
    QCOMPARE(p.currentStep, std::optional<SagaStep>(SagaStep::Inventory));
    QCOMPARE_STATUS(p.step(SagaStep::Inventory).status, StepStatus::InProgress);
    QCOMPARE(p.step(SagaStep::Inventory).startedAt, events[1].timestamp);

    QCOMPARE(p.apply(events[2]).outcome, FoldResult::Applied); // inventory completed
    QCOMPARE_STATUS(p.step(SagaStep::Inventory).status, StepStatus::Completed);
    QCOMPARE(p.step(SagaStep::Inventory).completedAt, events[2].timestamp);
    QCOMPARE(p.step(SagaStep::Inventory).durationMs(), 100);
    QVERIFY(!p.currentStep);

    QCOMPARE(p.apply(events[3]).outcome, FoldResult::Applied); // payment started
    QCOMPARE(p.currentStep, std::optional<SagaStep>(SagaStep::Payment));
    for (int i = 4; i < 8; ++i)
        QCOMPARE(p.apply(events[i]).outcome, FoldResult::Applied);

    QCOMPARE_STATUS(p.overallStatus, OverallStatus::Completed);
    QVERIFY(!p.currentStep);
    QCOMPARE(statusesOf(p), st(StepStatus::Completed, StepStatus::Completed, StepStatus::Completed));
    QCOMPARE(p.confirmationNumber, QStringLiteral("CONF-1234"));
    QCOMPARE(p.totalChargedInCents, 4999);
    QCOMPARE(p.lastSeq, 8);
    QCOMPARE(p.lastUpdated, events[7].timestamp);
    QCOMPARE(p.completedStepCount(), 3);
    QCOMPARE(p.progressPercent(), 100);
    QVERIFY(p.isTerminal());
}

void tst_OrderProgress::scenarios_data()
{
    QTest::addColumn<Kind>("kind");
    QTest::addColumn<OverallStatus>("overall");
    QTest::addColumn<StepStatuses>("steps");
    QTest::addColumn<QString>("failureCode");
    QTest::addColumn<int>("failedStep"); // -1 none
    QTest::addColumn<bool>("incomplete");
    QTest::addColumn<int>("attempt");
    using S = StepStatus;
    QTest::newRow("success") << Kind::Success << OverallStatus::Completed
                             << st(S::Completed, S::Completed, S::Completed) << QString() << -1 << false << 1;
    QTest::newRow("first step fails") << Kind::InventoryFails << OverallStatus::Failed
                                      << st(S::Failed, S::Skipped, S::Skipped)
                                      << "INVENTORY_UNAVAILABLE" << 0 << false << 1;
    QTest::newRow("payment fails, compensated")
        << Kind::PaymentFails << OverallStatus::RolledBack << st(S::Compensated, S::Failed, S::Skipped)
        << "PAYMENT_DECLINED" << 1 << false << 1;
    QTest::newRow("shipping fails, compensated")
        << Kind::ShippingFails << OverallStatus::RolledBack
        << st(S::Compensated, S::Compensated, S::Failed) << "INVALID_ADDRESS" << 2 << false << 1;
    QTest::newRow("compensation fails") << Kind::CompensationFails << OverallStatus::Failed
                                        << st(S::Failed, S::Failed, S::Skipped) << "PAYMENT_DECLINED"
                                        << 1 << true << 1;
    QTest::newRow("retry succeeds") << Kind::RetryThenSuccess << OverallStatus::Completed
                                    << st(S::Completed, S::Completed, S::Completed) << QString() << -1
                                    << false << 2;
}

void tst_OrderProgress::scenarios()
{
    QFETCH(Kind, kind);
    QFETCH(OverallStatus, overall);
    QFETCH(StepStatuses, steps);
    QFETCH(QString, failureCode);
    QFETCH(int, failedStep);
    QFETCH(bool, incomplete);
    QFETCH(int, attempt);

    const OrderProgress p = foldAll(scenario(kind, kOrder));
    QCOMPARE_STATUS(p.overallStatus, overall);
    QCOMPARE(statusesOf(p), steps);
    QCOMPARE(p.failure.code, failureCode);
    QCOMPARE(p.failedStep ? int(*p.failedStep) : -1, failedStep);
    QCOMPARE(p.compensationIncomplete, incomplete);
    QCOMPARE(p.attemptNumber, attempt);
    QVERIFY(!p.currentStep);
    QVERIFY(p.isTerminal());
    if (failedStep >= 0) {
        const StepProgress &f = p.step(SagaStep(failedStep));
        QCOMPARE(f.errorCode, failureCode);
        QVERIFY(!f.errorMessage.isEmpty());
    }
}

void tst_OrderProgress::duplicates_data()
{
    QTest::addColumn<Kind>("kind");
    QTest::addColumn<int>("duplicateIndex");
    QTest::newRow("saga started") << Kind::Success << 0;
    QTest::newRow("step started") << Kind::Success << 1;
    QTest::newRow("middle") << Kind::PaymentFails << 4;
    QTest::newRow("terminal") << Kind::ShippingFails << 11;
}

void tst_OrderProgress::duplicates()
{
    QFETCH(Kind, kind);
    QFETCH(int, duplicateIndex);
    const QVector<OrderEvent> events = scenario(kind, kOrder);
    OrderProgress p(kOrder);
    for (int i = 0; i <= duplicateIndex; ++i)
        QCOMPARE(p.apply(events[i]).outcome, FoldResult::Applied);
    const OrderProgress before = p;
    for (int i = 0; i <= duplicateIndex; ++i) {
        const FoldResult r = p.apply(events[i]);
        QCOMPARE(r.outcome, FoldResult::Duplicate);
        QVERIFY(r.ok());
        QVERIFY(r.changes.isEmpty());
        QCOMPARE(r.applied, 0);
    }
    QCOMPARE(p, before);
    // Duplicates do not disturb the rest of the fold.
    for (int i = duplicateIndex + 1; i < events.size(); ++i)
        QCOMPARE(p.apply(events[i]).outcome, FoldResult::Applied);
    QCOMPARE(p, foldAll(events));
}

void tst_OrderProgress::gapsAreBufferedAndDrained()
{
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    OrderProgress p(kOrder);
    QCOMPARE(p.apply(events[0]).outcome, FoldResult::Applied);
    const OrderProgress afterFirst = p;

    FoldResult r = p.apply(events[2]);
    QCOMPARE(r.outcome, FoldResult::Buffered);
    QVERIFY(r.ok());
    QCOMPARE(r.applied, 0);
    QVERIFY(r.changes.isEmpty());
    QCOMPARE(p.apply(events[3]).outcome, FoldResult::Buffered);
    QCOMPARE(p.apply(events[5]).outcome, FoldResult::Buffered);
    QCOMPARE(p.bufferedCount(), 3);
    QCOMPARE(p, afterFirst); // nothing visible changed
    QCOMPARE(p.lastSeq, 1);

    r = p.apply(events[1]); // fills the first gap: 2, 3, 4 apply; 6 still waits for 5
    QCOMPARE(r.outcome, FoldResult::Applied);
    QCOMPARE(r.applied, 3);
    QCOMPARE(p.lastSeq, 4);
    QCOMPARE(p.bufferedCount(), 1);
    QCOMPARE(p.currentStep, std::optional<SagaStep>(SagaStep::Payment));
    // The merged change set covers everything the drained events changed.
    QVERIFY(r.changes.steps[0] & ChangeSet::StepStatusField);
    QVERIFY(r.changes.steps[0] & ChangeSet::StepCompleted);
    QVERIFY(r.changes.steps[1] & ChangeSet::StepStarted);

    r = p.apply(events[4]);
    QCOMPARE(r.applied, 2);
    QCOMPARE(p.bufferedCount(), 0);
    QCOMPARE(p.apply(events[6]).outcome, FoldResult::Applied);
    QCOMPARE(p.apply(events[7]).outcome, FoldResult::Applied);
    QCOMPARE(p, foldAll(events));
}

void tst_OrderProgress::bufferedDuplicate()
{
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    OrderProgress p(kOrder);
    QCOMPARE(p.apply(events[0]).outcome, FoldResult::Applied);
    QCOMPARE(p.apply(events[3]).outcome, FoldResult::Buffered);
    QCOMPARE(p.apply(events[3]).outcome, FoldResult::Duplicate);
    QCOMPARE(p.bufferedCount(), 1);
}

void tst_OrderProgress::outOfOrderPermutations_data()
{
    QTest::addColumn<Kind>("kind");
    QTest::addColumn<int>("seed");
    for (int k = 0; k < kKindCount; ++k) {
        for (int seed = 1; seed <= 5; ++seed) {
            const QByteArray name = QByteArray(kindName(Kind(k))) + " #" + QByteArray::number(seed);
            QTest::newRow(name.constData()) << Kind(k) << seed;
        }
    }
}

void tst_OrderProgress::outOfOrderPermutations()
{
    QFETCH(Kind, kind);
    QFETCH(int, seed);
    const QVector<OrderEvent> events = scenario(kind, kOrder);
    QVector<OrderEvent> shuffled = events;
    std::mt19937 rng{uint(seed)};
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    // Deliver some events twice, as a reconnecting stream would.
    shuffled.append(shuffled.mid(0, 3));

    OrderProgress p(kOrder);
    int applied = 0;
    for (const OrderEvent &e : std::as_const(shuffled)) {
        const FoldResult r = p.apply(e);
        QVERIFY2(r.ok(), qPrintable(r.error));
        applied += r.applied;
    }
    QCOMPARE(applied, events.size());
    QCOMPARE(p.bufferedCount(), 0);
    QCOMPARE(p, foldAll(events));
}

void tst_OrderProgress::bufferOverflowRejects()
{
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    OrderProgress p(kOrder);
    QCOMPARE(p.apply(events[0]).outcome, FoldResult::Applied);
    for (int i = 0; i < OrderProgress::kMaxBuffered; ++i) {
        OrderEvent e = events[1];
        e.seq = 3 + i; // seq 2 never arrives
        QCOMPARE(p.apply(e).outcome, FoldResult::Buffered);
    }
    QCOMPARE(p.bufferedCount(), OrderProgress::kMaxBuffered);
    OrderEvent overflow = events[1];
    overflow.seq = 3 + OrderProgress::kMaxBuffered;
    const FoldResult r = p.apply(overflow);
    QCOMPARE(r.outcome, FoldResult::Rejected);
    QVERIFY(!r.ok());
    QVERIFY2(r.error.contains(QLatin1String("buffer full")), qPrintable(r.error));
    QCOMPARE(p.bufferedCount(), OrderProgress::kMaxBuffered);
    QCOMPARE(p.lastSeq, 1);
}

void tst_OrderProgress::illegalTransitions_data()
{
    QTest::addColumn<QVector<OrderEvent>>("prefix");
    QTest::addColumn<OrderEvent>("event");
    QTest::addColumn<QString>("errorPart");

    const QVector<OrderEvent> done = scenario(Kind::Success, kOrder);
    QTest::newRow("COMPLETED order: step IN_PROGRESS again")
        << done << nextEvent(done, EventType::StepStarted, SagaStep::Shipping)
        << "Shipping Arrangement COMPLETED -> IN_PROGRESS";
    QTest::newRow("COMPLETED order: compensation")
        << done << nextEvent(done, EventType::CompensationStarted) << "COMPLETED -> ROLLING_BACK";
    QTest::newRow("COMPLETED order: SAGA_FAILED")
        << done << nextEvent(done, EventType::SagaFailed) << "COMPLETED -> FAILED";
    QTest::newRow("COMPLETED order: retry")
        << done << nextEvent(done, EventType::SagaStarted, std::nullopt, {{QStringLiteral("attemptNumber"), 2}})
        << "COMPLETED -> QUEUED";
    const QVector<OrderEvent> started = prefixOf(Kind::Success, 1);
    QTest::newRow("complete a step that never started")
        << started << nextEvent(started, EventType::StepCompleted, SagaStep::Inventory)
        << "PENDING -> COMPLETED";
    QTest::newRow("second step before the first")
        << started << nextEvent(started, EventType::StepStarted, SagaStep::Payment)
        << "Inventory Reservation is PENDING";
    QTest::newRow("saga completed with pending steps")
        << started << nextEvent(started, EventType::SagaCompleted) << "QUEUED -> COMPLETED";
    QTest::newRow("SAGA_STARTED twice")
        << started << nextEvent(started, EventType::SagaStarted) << "already started";
    QTest::newRow("compensate a pending step")
        << started << nextEvent(started, EventType::CompensationStarted, SagaStep::Inventory)
        << "PENDING -> COMPENSATING";
    QTest::newRow("step event without a step")
        << started << nextEvent(started, EventType::StepStarted) << "stepName is required";
    const QVector<OrderEvent> running = prefixOf(Kind::Success, 4); // payment running
    QTest::newRow("saga completed while a step runs")
        << running << nextEvent(running, EventType::SagaCompleted) << "every step must be COMPLETED";
    QTest::newRow("saga failed while a step runs")
        << running << nextEvent(running, EventType::SagaFailed) << "still IN_PROGRESS";
    QTest::newRow("compensation-phase failure of a running step")
        << running
        << nextEvent(running, EventType::StepFailed, SagaStep::Payment,
                     {{QStringLiteral("phase"), QStringLiteral("COMPENSATION")}})
        << "phase COMPENSATION needs a COMPENSATING step";
    QTest::newRow("compensated without compensating")
        << running << nextEvent(running, EventType::StepCompensated, SagaStep::Inventory)
        << "COMPLETED -> COMPENSATED";
    const QVector<OrderEvent> rolling = prefixOf(Kind::PaymentFails, 6); // ROLLING_BACK
    QTest::newRow("rolling back twice")
        << rolling << nextEvent(rolling, EventType::CompensationStarted) << "ROLLING_BACK -> ROLLING_BACK";
    QTest::newRow("forward step while rolling back")
        << rolling << nextEvent(rolling, EventType::StepStarted, SagaStep::Shipping)
        << "SKIPPED -> IN_PROGRESS";
    const QVector<OrderEvent> rolledBack = scenario(Kind::PaymentFails, kOrder);
    QTest::newRow("retry without a higher attempt")
        << rolledBack << nextEvent(rolledBack, EventType::SagaStarted, std::nullopt, {{QStringLiteral("attemptNumber"), 1}})
        << "attemptNumber > 1";

    OrderEvent wrongOrder = nextEvent(started, EventType::StepStarted, SagaStep::Inventory);
    wrongOrder.orderId = QUuid::fromString(QStringLiteral("00000000-0000-0000-0000-000000000001"));
    QTest::newRow("wrong order id") << started << wrongOrder << "applied to order";
    OrderEvent zeroSeq = nextEvent(started, EventType::StepStarted, SagaStep::Inventory);
    zeroSeq.seq = 0;
    QTest::newRow("seq 0") << started << zeroSeq << "seq must be 1 or more";
    OrderEvent noTime = nextEvent(started, EventType::StepStarted, SagaStep::Inventory);
    noTime.timestamp = QDateTime();
    QTest::newRow("no timestamp") << started << noTime << "timestamp";
}

void tst_OrderProgress::illegalTransitions()
{
    QFETCH(QVector<OrderEvent>, prefix);
    QFETCH(OrderEvent, event);
    QFETCH(QString, errorPart);

    OrderProgress p = foldAll(prefix);
    const OrderProgress before = p;
    const FoldResult r = p.apply(event);
    QCOMPARE(r.outcome, FoldResult::Rejected);
    QVERIFY(!r.ok());
    QCOMPARE(r.applied, 0);
    QVERIFY(r.changes.isEmpty());
    QVERIFY2(r.error.contains(errorPart), qPrintable(r.error));
    QCOMPARE(p, before);
    QCOMPARE(p.bufferedCount(), 0);
}

void tst_OrderProgress::drainedIllegalEventIsDropped()
{
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    OrderProgress p(kOrder);
    QCOMPARE(p.apply(events[0]).outcome, FoldResult::Applied);
    OrderEvent bad = events[2];
    bad.type = EventType::SagaCompleted; // seq 3 would complete a running saga
    bad.step.reset();
    QCOMPARE(p.apply(bad).outcome, FoldResult::Buffered);
    const FoldResult r = p.apply(events[1]);
    QCOMPARE(r.outcome, FoldResult::Applied);
    QCOMPARE(r.applied, 1);
    QVERIFY(!r.error.isEmpty());
    QCOMPARE(p.lastSeq, 2);
    QCOMPARE(p.bufferedCount(), 0);
    QCOMPARE(p.apply(events[2]).outcome, FoldResult::Applied); // the corrected seq 3
}

void tst_OrderProgress::retryResetsFailedSteps_data()
{
    QTest::addColumn<Kind>("kind");
    QTest::newRow("rolled back") << Kind::PaymentFails;
    QTest::newRow("first step failed") << Kind::InventoryFails;
    QTest::newRow("compensation incomplete") << Kind::CompensationFails;
    QTest::newRow("shipping rolled back") << Kind::ShippingFails;
}

void tst_OrderProgress::retryResetsFailedSteps()
{
    QFETCH(Kind, kind);
    Builder b(kOrder);
    appendKind(b, kind);
    const OrderProgress failed = foldAll(b.events());
    b.started(2);
    const QVector<OrderEvent> events = b.events();
    OrderProgress p = failed;
    const FoldResult r = p.apply(events.last());
    QCOMPARE(r.outcome, FoldResult::Applied);
    QCOMPARE_STATUS(p.overallStatus, OverallStatus::Queued);
    QCOMPARE(p.attemptNumber, 2);
    QVERIFY(p.failure.isNull());
    QVERIFY(!p.failedStep);
    QVERIFY(!p.compensationIncomplete);
    QVERIFY(!p.currentStep);
    QCOMPARE(p.createdAt, failed.createdAt); // createdAt is the first attempt's
    QVERIFY(r.changes.order & ChangeSet::Overall);
    QVERIFY(r.changes.order & ChangeSet::Outcome);
    QVERIFY(r.changes.order & ChangeSet::Meta);
    for (SagaStep s : kAllSteps) {
        const StepProgress &sp = p.step(s);
        QCOMPARE_STATUS(sp.status, StepStatus::Pending);
        QVERIFY(sp.startedAt.isNull());
        QVERIFY(sp.completedAt.isNull());
        QVERIFY(sp.errorCode.isEmpty());
        QVERIFY(sp.errorMessage.isEmpty());
        QCOMPARE(bool(r.changes.steps[size_t(s)] & ChangeSet::StepStatusField), true);
    }
    // And the new attempt runs to completion.
    b.stepOk(SagaStep::Inventory);
    b.stepOk(SagaStep::Payment);
    b.stepOk(SagaStep::Shipping);
    b.completed();
    const QVector<OrderEvent> all = b.events();
    for (int i = events.size(); i < all.size(); ++i)
        QCOMPARE(p.apply(all[i]).outcome, FoldResult::Applied);
    QCOMPARE_STATUS(p.overallStatus, OverallStatus::Completed);
}

void tst_OrderProgress::changeSets_data()
{
    QTest::addColumn<QVector<OrderEvent>>("prefix");
    QTest::addColumn<OrderEvent>("event");
    QTest::addColumn<quint32>("order");
    QTest::addColumn<QVector<quint32>>("steps");
    using C = ChangeSet;
    const quint32 none = 0;
    const QVector<OrderEvent> empty;
    QTest::newRow("saga started") << empty << scenario(Kind::Success, kOrder)[0]
                                  << quint32(C::Meta | C::LastUpdated) << QVector<quint32>{none, none, none};
    const QVector<OrderEvent> started = prefixOf(Kind::Success, 1);
    QTest::newRow("first step started")
        << started << nextEvent(started, EventType::StepStarted, SagaStep::Inventory)
        << quint32(C::Overall | C::CurrentStep | C::LastUpdated)
        << QVector<quint32>{C::StepStatusField | C::StepStarted, none, none};
    const QVector<OrderEvent> invRunning = prefixOf(Kind::Success, 2);
    QTest::newRow("step completed")
        << invRunning << nextEvent(invRunning, EventType::StepCompleted, SagaStep::Inventory)
        << quint32(C::CurrentStep | C::LastUpdated)
        << QVector<quint32>{C::StepStatusField | C::StepCompleted, none, none};
    const QVector<OrderEvent> payRunning = prefixOf(Kind::Success, 4);
    OrderEvent payFails = nextEvent(payRunning, EventType::StepFailed, SagaStep::Payment);
    payFails.error = ErrorInfo{QStringLiteral("PAYMENT_DECLINED"), QStringLiteral("Payment declined")};
    QTest::newRow("forward failure skips later steps")
        << payRunning << payFails << quint32(C::CurrentStep | C::LastUpdated | C::Outcome)
        << QVector<quint32>{none, C::StepStatusField | C::StepCompleted | C::StepError, C::StepStatusField};
    const QVector<OrderEvent> failedPay = prefixOf(Kind::PaymentFails, 5);
    QTest::newRow("rollback starts")
        << failedPay << nextEvent(failedPay, EventType::CompensationStarted)
        << quint32(C::Overall | C::LastUpdated) << QVector<quint32>{none, none, none};
    const QVector<OrderEvent> rolling = prefixOf(Kind::PaymentFails, 6);
    QTest::newRow("step compensating")
        << rolling << nextEvent(rolling, EventType::CompensationStarted, SagaStep::Inventory)
        << quint32(C::CurrentStep | C::LastUpdated) << QVector<quint32>{C::StepStatusField, none, none};
    const QVector<OrderEvent> compensated = prefixOf(Kind::PaymentFails, 8);
    QTest::newRow("saga rolled back")
        << compensated << nextEvent(compensated, EventType::SagaFailed)
        << quint32(C::Overall | C::LastUpdated) << QVector<quint32>{none, none, none};
    const QVector<OrderEvent> shipped = prefixOf(Kind::Success, 7);
    QTest::newRow("saga completed")
        << shipped << scenario(Kind::Success, kOrder)[7]
        << quint32(C::Overall | C::LastUpdated | C::Outcome) << QVector<quint32>{none, none, none};
    OrderEvent sameTime = nextEvent(started, EventType::StepStarted, SagaStep::Inventory);
    sameTime.timestamp = started.last().timestamp;
    QTest::newRow("same timestamp: lastUpdated unchanged")
        << started << sameTime << quint32(C::Overall | C::CurrentStep)
        << QVector<quint32>{C::StepStatusField | C::StepStarted, none, none};
}

void tst_OrderProgress::changeSets()
{
    QFETCH(QVector<OrderEvent>, prefix);
    QFETCH(OrderEvent, event);
    QFETCH(quint32, order);
    QFETCH(QVector<quint32>, steps);
    OrderProgress p = foldAll(prefix);
    const FoldResult r = p.apply(event);
    QVERIFY2(r.outcome == FoldResult::Applied, qPrintable(r.error));
    QCOMPARE(r.changes.order, order);
    for (int i = 0; i < kStepCount; ++i)
        QCOMPARE(r.changes.steps[size_t(i)], steps[i]);
}

void tst_OrderProgress::adoptsOrderIdWhenDefaultConstructed()
{
    OrderProgress p;
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    QCOMPARE(p.apply(events[0]).outcome, FoldResult::Applied);
    QCOMPARE(p.orderId, kOrder);
    OrderEvent other = events[1];
    other.orderId = QUuid::createUuid();
    QCOMPARE(p.apply(other).outcome, FoldResult::Rejected);
}

void tst_OrderProgress::copyKeepsBuffer()
{
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    OrderProgress p(kOrder);
    p.apply(events[0]);
    p.apply(events[2]);
    OrderProgress copy = p;
    QCOMPARE(copy.bufferedCount(), 1);
    QCOMPARE(copy, p);
    QCOMPARE(copy.apply(events[1]).applied, 2); // the copy drains its own buffer
    QCOMPARE(p.bufferedCount(), 1);
    QVERIFY(copy != p);
    p = copy;
    QCOMPARE(p, copy);
    QCOMPARE(p.bufferedCount(), 0);
}

void tst_OrderProgress::progressPercent_data()
{
    QTest::addColumn<Kind>("kind");
    QTest::addColumn<int>("count");
    QTest::addColumn<int>("percent");
    QTest::newRow("queued") << Kind::Success << 1 << 0;
    QTest::newRow("first running") << Kind::Success << 2 << 0;
    QTest::newRow("one done") << Kind::Success << 3 << 33;
    QTest::newRow("two done") << Kind::Success << 5 << 67;
    QTest::newRow("three done") << Kind::Success << 7 << 100;
    QTest::newRow("rolling back") << Kind::PaymentFails << 6 << 67; // failed + skipped, inventory to undo
    QTest::newRow("rolled back") << Kind::PaymentFails << 9 << 100;
}

void tst_OrderProgress::progressPercent()
{
    QFETCH(Kind, kind);
    QFETCH(int, count);
    QFETCH(int, percent);
    QCOMPARE(foldAll(prefixOf(kind, count)).progressPercent(), percent);
}

// A step taken over after an interruption (its engine crashed; another drove it
// again once the lease ran out) ends with details.resumedAt: the step's duration is
// the resumed attempt's, not the wait for the lease. Its start stays the
// STEP_STARTED's. Records without the detail (older engines), or with one that
// does not lie within the step, measure from the start as before.
void tst_OrderProgress::takenOverStepCountsItsResumedAttempt_data()
{
    QTest::addColumn<bool>("fails");
    QTest::addColumn<QJsonValue>("resumedAt"); // offset ms from STEP_STARTED (double) or a raw value
    QTest::addColumn<qint64>("resumedOffsetMs"); // expected StepProgress::resumedAt offset; -1 = null
    QTest::addColumn<qint64>("durationMs");

    // STEP_STARTED at 0, the end 31,000 ms later.
    QTest::newRow("completed, taken over") << false << QJsonValue(30800.0) << qint64(30800) << qint64(200);
    QTest::newRow("forward failure, taken over") << true << QJsonValue(30500.0) << qint64(30500) << qint64(500);
    QTest::newRow("resumed at its end") << false << QJsonValue(31000.0) << qint64(31000) << qint64(0);
    QTest::newRow("old record: no detail") << false << QJsonValue() << qint64(-1) << qint64(31000);
    QTest::newRow("before its start") << false << QJsonValue(-5.0) << qint64(-1) << qint64(31000);
    QTest::newRow("after its end") << false << QJsonValue(31001.0) << qint64(-1) << qint64(31000);
    QTest::newRow("not a time") << false << QJsonValue(QStringLiteral("soon")) << qint64(-1) << qint64(31000);
    QTest::newRow("no zone") << false << QJsonValue(QStringLiteral("2024-01-10T14:30:30.000")) << qint64(-1)
                             << qint64(31000);
}

void tst_OrderProgress::takenOverStepCountsItsResumedAttempt()
{
    QFETCH(bool, fails);
    QFETCH(QJsonValue, resumedAt);
    QFETCH(qint64, resumedOffsetMs);
    QFETCH(qint64, durationMs);
    Builder b(kOrder);
    b.started();
    b.stepOk(SagaStep::Inventory);
    const OrderEvent &started = b.add(EventType::StepStarted, SagaStep::Payment);
    const QDateTime t0 = started.timestamp;
    QJsonObject details{{QStringLiteral("authorizationId"), QStringLiteral("AUTH-1")}};
    if (fails)
        details = {{QStringLiteral("phase"), QStringLiteral("FORWARD")}, {QStringLiteral("retryable"), true}};
    if (!resumedAt.isUndefined()) {
        details.insert(QStringLiteral("resumed"), true);
        details.insert(QStringLiteral("resumedAt"),
                       resumedAt.isDouble() ? QJsonValue(SagaJson::formatTimestamp(t0.addMSecs(qint64(resumedAt.toDouble()))))
                                            : resumedAt);
    }
    OrderEvent end = b.add(fails ? EventType::StepFailed : EventType::StepCompleted, SagaStep::Payment, details,
                           fails ? ErrorInfo{QStringLiteral("PAYMENT_DECLINED"), QStringLiteral("declined")} : ErrorInfo());
    end.timestamp = t0.addMSecs(31000);

    QVector<OrderEvent> events = b.events();
    events.last() = end;
    OrderProgress p = foldAll(events.mid(0, events.size() - 1));
    const FoldResult r = p.apply(end);
    QVERIFY2(r.outcome == FoldResult::Applied, qPrintable(r.error));
    const StepProgress &sp = p.step(SagaStep::Payment);
    QCOMPARE_STATUS(sp.status, fails ? StepStatus::Failed : StepStatus::Completed);
    QCOMPARE(sp.startedAt, t0); // when it first started, as the timeline says
    QCOMPARE(sp.completedAt, end.timestamp);
    QCOMPARE(sp.resumedAt, resumedOffsetMs < 0 ? QDateTime() : t0.addMSecs(resumedOffsetMs));
    QCOMPARE(sp.workStartedAt(), resumedOffsetMs < 0 ? t0 : t0.addMSecs(resumedOffsetMs));
    QCOMPARE(sp.durationMs(), durationMs);
    QVERIFY(r.changes.steps[size_t(SagaStep::Payment)] & ChangeSet::StepCompleted);
    if (resumedOffsetMs >= 0)
        QCOMPARE(resumedAttemptStart(end), sp.resumedAt);
    // The same detail on a compensation's end is no forward work.
    OrderEvent compensation = end;
    compensation.type = EventType::StepFailed;
    compensation.details.insert(QStringLiteral("phase"), QStringLiteral("COMPENSATION"));
    QVERIFY(!resumedAttemptStart(compensation).isValid());
}

// The resumed start belongs to the step's run that it ended: a retry (a new
// execution) and the step's new STEP_STARTED clear it.
void tst_OrderProgress::resumedStartIsClearedByANewStart()
{
    Builder b(kOrder);
    b.started();
    b.stepOk(SagaStep::Inventory);
    const QDateTime t0 = b.add(EventType::StepStarted, SagaStep::Payment).timestamp;
    b.add(EventType::StepFailed, SagaStep::Payment,
          {{QStringLiteral("phase"), QStringLiteral("FORWARD")},
           {QStringLiteral("resumed"), true},
           {QStringLiteral("resumedAt"), SagaJson::formatTimestamp(t0.addMSecs(50))}},
          ErrorInfo{QStringLiteral("PAYMENT_DECLINED"), QStringLiteral("declined")});
    b.add(EventType::CompensationStarted);
    b.compensate(SagaStep::Inventory);
    b.failed();
    OrderProgress p = foldAll(b.events());
    QCOMPARE(p.step(SagaStep::Payment).resumedAt, t0.addMSecs(50));
    QCOMPARE(p.step(SagaStep::Payment).durationMs(), 50);

    b.started(2);
    FoldResult r = p.apply(b.events().last());
    QCOMPARE(r.outcome, FoldResult::Applied);
    QVERIFY(p.step(SagaStep::Payment).resumedAt.isNull());
    QCOMPARE(p.step(SagaStep::Payment).durationMs(), -1);

    // A step that ran in one go after one that was taken over: measured from its start.
    b.stepOk(SagaStep::Inventory);
    b.stepOk(SagaStep::Payment);
    const QVector<OrderEvent> all = b.events();
    for (int i = all.size() - 4; i < all.size(); ++i)
        QCOMPARE(p.apply(all[i]).outcome, FoldResult::Applied);
    QVERIFY(p.step(SagaStep::Payment).resumedAt.isNull());
    QCOMPARE(p.step(SagaStep::Payment).durationMs(), 100);
}

// A type this program does not know (a newer version's, during a rolling upgrade)
// takes its seq and changes nothing else: the order's later events still apply
// (read as SAGA_STARTED it was refused, and the order waited behind it for good).
// Its name is what the JSON and the history show.
void tst_OrderProgress::unrecognizedEventTakesItsSeqOnly()
{
    QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    OrderEvent unknown = events[2];
    setEventType(&unknown, u"STEP_HELD_FOR_REVIEW");
    QCOMPARE_STATUS(unknown.type, EventType::Unrecognized);
    QCOMPARE(eventTypeName(unknown), QStringLiteral("STEP_HELD_FOR_REVIEW"));
    unknown.timestamp = events[2].timestamp.addMSecs(-10);
    // Seq 3 is the unknown one; the rest move one on.
    events.insert(2, unknown);
    for (int i = 3; i < events.size(); ++i)
        events[i].seq = i + 1;

    OrderProgress p(kOrder);
    QCOMPARE(p.apply(events[0]).outcome, FoldResult::Applied);
    QCOMPARE(p.apply(events[1]).outcome, FoldResult::Applied);
    const OrderProgress before = p;
    const FoldResult r = p.apply(events[2]);
    QCOMPARE(r.outcome, FoldResult::Applied);
    QCOMPARE(r.error, QString());
    QCOMPARE(p.lastSeq, 3);
    QCOMPARE(p.lastUpdated, unknown.timestamp);
    QCOMPARE_STATUS(p.overallStatus, before.overallStatus);
    QCOMPARE(statusesOf(p), statusesOf(before));
    QCOMPARE(p.currentStep, before.currentStep);
    for (int i = 3; i < events.size(); ++i)
        QCOMPARE(p.apply(events[i]).outcome, FoldResult::Applied);
    QCOMPARE_STATUS(p.overallStatus, OverallStatus::Completed);
    QCOMPARE(p.lastSeq, 9);

    // Passed on as it was stored.
    QCOMPARE(SagaJson::statusEventToJson(unknown, toString(p.overallStatus)).value(QLatin1String("eventType")).toString(),
             QStringLiteral("STEP_HELD_FOR_REVIEW"));
    QCOMPARE(SagaJson::rawEventToJson(unknown).value(QLatin1String("eventType")).toString(),
             QStringLiteral("STEP_HELD_FOR_REVIEW"));
    // A known name read back is known again, its name not kept twice.
    setEventType(&unknown, u"STEP_COMPLETED");
    QCOMPARE_STATUS(unknown.type, EventType::StepCompleted);
    QVERIFY(unknown.typeName.isEmpty());
    QCOMPARE(events[2].typeName, QStringLiteral("STEP_HELD_FOR_REVIEW"));
}

QTEST_APPLESS_MAIN(tst_OrderProgress)
// A forward call that did not answer may have taken effect: its STEP_FAILED owes a
// reversal (details.reversalOwed), which the engine makes before anything else. From
// that event on the saga is ROLLING_BACK at that step (it read IN_PROGRESS with no
// current step, for up to the compensation budget); the rollback's
// COMPENSATION_STARTED, or the SAGA_FAILED, then folds as before.
void tst_OrderProgress::unansweredStepBeingReversedIsRollingBack_data()
{
    QTest::addColumn<SagaScenarios::Kind>("kind");
    QTest::addColumn<int>("failedStep");
    QTest::addColumn<OverallStatus>("finalStatus");
    QTest::newRow("first step: nothing else to compensate")
        << Kind::InventoryFails << int(SagaStep::Inventory) << OverallStatus::Failed;
    QTest::newRow("last step: two to compensate") << Kind::ShippingFails << int(SagaStep::Shipping)
                                                  << OverallStatus::RolledBack;
}

void tst_OrderProgress::unansweredStepBeingReversedIsRollingBack()
{
    QFETCH(SagaScenarios::Kind, kind);
    QFETCH(int, failedStep);
    QFETCH(OverallStatus, finalStatus);
    QVector<OrderEvent> events = scenario(kind, kOrder);
    const auto failed = std::find_if(events.begin(), events.end(),
                                     [](const OrderEvent &e) { return e.type == EventType::StepFailed; });
    QVERIFY(failed != events.end());
    failed->details.insert(QStringLiteral("reversalOwed"), true);
    const int upTo = int(failed - events.begin()) + 1;

    const OrderProgress plain = foldAll(scenario(kind, kOrder).mid(0, upTo));
    QCOMPARE(toString(plain.overallStatus), QStringLiteral("IN_PROGRESS")); // no reversal owed: unchanged

    OrderProgress p(kOrder);
    for (int i = 0; i < upTo; ++i)
        QCOMPARE(p.apply(events[i]).outcome, FoldResult::Applied);
    QCOMPARE(toString(p.overallStatus), QStringLiteral("ROLLING_BACK"));
    QCOMPARE(p.currentStep, std::optional<SagaStep>(SagaStep(failedStep)));
    QCOMPARE(int(p.steps[size_t(failedStep)].status), int(StepStatus::Failed));
    QCOMPARE(toString(recordStatusFor(p.overallStatus)), QStringLiteral("COMPENSATING"));
    for (int i = upTo; i < events.size(); ++i) {
        const FoldResult r = p.apply(events[i]);
        QVERIFY2(r.outcome == FoldResult::Applied, qPrintable(r.error));
    }
    QCOMPARE(toString(p.overallStatus), toString(finalStatus));
    QVERIFY(!p.currentStep);
}

#include "tst_orderprogress.moc"
