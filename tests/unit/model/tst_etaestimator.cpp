#include "etaestimator.h"
#include "sagajson.h"
#include "sagascenarios.h"

#include <QtTest>

using namespace SagaScenarios;

using Samples = QVector<qint64>;

namespace {

const QUuid kOrder = QUuid::fromString(QStringLiteral("550e8400-e29b-41d4-a716-446655440000"));

OrderProgress foldPrefix(const QVector<OrderEvent> &events, int count)
{
    OrderProgress p(kOrder);
    for (int i = 0; i < count; ++i)
        p.apply(events[i]);
    return p;
}

} // namespace

class tst_EtaEstimator : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void defaults();
    void percentiles_data();
    void percentiles();
    void ignoresNegativeDurations();
    void windowKeepsRecentSamples();
    void estimateWithoutHistory();
    void estimateWithHistory();
    void runningStepElapsed_data();
    void runningStepElapsed();
    void terminalHasNoEstimate_data();
    void terminalHasNoEstimate();
    void rollingBackCountsStepsToUndo();
    void observeRecordsCompletedSteps();
    void takenOverStepRecordsItsResumedAttempt();
    void isLate();
    void setDefaults();
};

void tst_EtaEstimator::defaults()
{
    const EtaEstimator eta;
    QCOMPARE(eta.p50(SagaStep::Inventory), 800);
    QCOMPARE(eta.p95(SagaStep::Inventory), 2000);
    QCOMPARE(eta.p50(SagaStep::Payment), 1200);
    QCOMPARE(eta.p95(SagaStep::Payment), 3000);
    QCOMPARE(eta.p50(SagaStep::Shipping), 1000);
    QCOMPARE(eta.p95(SagaStep::Shipping), 2500);
    QCOMPARE(eta.sampleCount(SagaStep::Payment), 0);
}

void tst_EtaEstimator::percentiles_data()
{
    QTest::addColumn<Samples>("samples");
    QTest::addColumn<qint64>("p50");
    QTest::addColumn<qint64>("p95");
    QTest::newRow("one") << Samples{500} << qint64(500) << qint64(500);
    QTest::newRow("two") << Samples{100, 300} << qint64(100) << qint64(300);
    QTest::newRow("four unsorted") << Samples{400, 100, 300, 200} << qint64(200) << qint64(400);
    Samples hundred;
    for (int i = 100; i >= 1; --i)
        hundred.append(i * 10); // 10..1000
    QTest::newRow("1..100 x10") << hundred << qint64(500) << qint64(950);
    QTest::newRow("outlier") << Samples{100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100,
                                        100, 100, 100, 100, 100, 100, 100, 9000}
                             << qint64(100) << qint64(100);
    QTest::newRow("zeros") << Samples{0, 0, 0} << qint64(0) << qint64(0);
}

void tst_EtaEstimator::percentiles()
{
    QFETCH(Samples, samples);
    QFETCH(qint64, p50);
    QFETCH(qint64, p95);
    EtaEstimator eta;
    for (qint64 s : std::as_const(samples))
        eta.recordDuration(SagaStep::Payment, s);
    QCOMPARE(eta.sampleCount(SagaStep::Payment), samples.size());
    QCOMPARE(eta.p50(SagaStep::Payment), p50);
    QCOMPARE(eta.p95(SagaStep::Payment), p95);
    // Other steps keep their defaults.
    QCOMPARE(eta.p50(SagaStep::Inventory), 800);
}

void tst_EtaEstimator::ignoresNegativeDurations()
{
    EtaEstimator eta;
    eta.recordDuration(SagaStep::Inventory, -5);
    QCOMPARE(eta.sampleCount(SagaStep::Inventory), 0);
    QCOMPARE(eta.p50(SagaStep::Inventory), 800);
}

void tst_EtaEstimator::windowKeepsRecentSamples()
{
    EtaEstimator eta;
    for (int i = 0; i < EtaEstimator::kWindow; ++i)
        eta.recordDuration(SagaStep::Shipping, 100000);
    QCOMPARE(eta.p50(SagaStep::Shipping), 100000);
    for (int i = 0; i < EtaEstimator::kWindow; ++i)
        eta.recordDuration(SagaStep::Shipping, 50);
    QCOMPARE(eta.sampleCount(SagaStep::Shipping), EtaEstimator::kWindow);
    QCOMPARE(eta.p50(SagaStep::Shipping), 50);
    QCOMPARE(eta.p95(SagaStep::Shipping), 50);
}

void tst_EtaEstimator::estimateWithoutHistory()
{
    const EtaEstimator eta;
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    const OrderProgress queued = foldPrefix(events, 1);
    const QDateTime now = baseTime().addSecs(1);
    // p50: 800 + 1200 + 1000; buffers: 1200 + 1800 + 1500.
    QCOMPARE(eta.estimate(queued, now), now.addMSecs(3000 + 4500));
    QCOMPARE(eta.estimate(queued, now).timeSpec(), Qt::UTC);
}

void tst_EtaEstimator::estimateWithHistory()
{
    EtaEstimator eta;
    for (qint64 ms : {100, 200, 300})
        eta.recordDuration(SagaStep::Inventory, ms);
    for (qint64 ms : {1000, 1000, 5000})
        eta.recordDuration(SagaStep::Payment, ms);
    // Shipping has no history: defaults 1000 / 2500.
    const OrderProgress queued = foldPrefix(scenario(Kind::Success, kOrder), 1);
    const QDateTime now = baseTime();
    // inventory 200 + (300-200); payment 1000 + (5000-1000); shipping 1000 + 1500
    QCOMPARE(eta.estimate(queued, now), now.addMSecs(200 + 100 + 1000 + 4000 + 1000 + 1500));
}

void tst_EtaEstimator::runningStepElapsed_data()
{
    QTest::addColumn<qint64>("elapsed");
    QTest::addColumn<qint64>("expectedLeft");
    // Payment running (p50 1200, buffer 1800), shipping pending (1000 + 1500).
    QTest::newRow("just started") << qint64(0) << qint64(1200 + 1800 + 2500);
    QTest::newRow("half way") << qint64(600) << qint64(600 + 1800 + 2500);
    QTest::newRow("past p50") << qint64(5000) << qint64(0 + 1800 + 2500);
}

void tst_EtaEstimator::runningStepElapsed()
{
    QFETCH(qint64, elapsed);
    QFETCH(qint64, expectedLeft);
    const EtaEstimator eta;
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    const OrderProgress p = foldPrefix(events, 4); // payment started at events[3]
    QCOMPARE_STATUS(p.step(SagaStep::Payment).status, StepStatus::InProgress);
    const QDateTime now = events[3].timestamp.addMSecs(elapsed);
    QCOMPARE(eta.estimate(p, now), now.addMSecs(expectedLeft));
}

void tst_EtaEstimator::terminalHasNoEstimate_data()
{
    QTest::addColumn<int>("kind");
    QTest::newRow("completed") << int(Kind::Success);
    QTest::newRow("failed") << int(Kind::InventoryFails);
    QTest::newRow("rolled back") << int(Kind::PaymentFails);
    QTest::newRow("compensation failed") << int(Kind::CompensationFails);
}

void tst_EtaEstimator::terminalHasNoEstimate()
{
    QFETCH(int, kind);
    const EtaEstimator eta;
    const QVector<OrderEvent> events = scenario(Kind(kind), kOrder);
    const OrderProgress p = foldPrefix(events, events.size());
    QVERIFY(p.isTerminal());
    QVERIFY(eta.estimate(p, baseTime()).isNull());
    QVERIFY(!eta.isLate(p, baseTime().addDays(10)));
}

void tst_EtaEstimator::rollingBackCountsStepsToUndo()
{
    const EtaEstimator eta;
    const OrderProgress p = foldPrefix(scenario(Kind::PaymentFails, kOrder), 6);
    QCOMPARE_STATUS(p.overallStatus, OverallStatus::RollingBack);
    const QDateTime now = baseTime().addSecs(5);
    QCOMPARE(eta.estimate(p, now), now.addMSecs(800 + 1200)); // inventory still to release
}

void tst_EtaEstimator::observeRecordsCompletedSteps()
{
    EtaEstimator eta;
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder, baseTime(), 250);
    OrderProgress p(kOrder);
    for (const OrderEvent &e : events)
        eta.observe(p, p.apply(e).changes);
    for (SagaStep s : kAllSteps) {
        QCOMPARE(eta.sampleCount(s), 1);
        QCOMPARE(eta.p50(s), 250);
    }
    // A failed step is not a duration sample.
    EtaEstimator eta2;
    OrderProgress q(kOrder);
    for (const OrderEvent &e : scenario(Kind::InventoryFails, kOrder))
        eta2.observe(q, q.apply(e).changes);
    QCOMPARE(eta2.sampleCount(SagaStep::Inventory), 0);
}

// A step taken over after its engine crashed: the sample is the resumed attempt's
// duration (details.resumedAt to STEP_COMPLETED), not the ~30 s wait for the lease,
// so p95 is not inflated after every crash.
void tst_EtaEstimator::takenOverStepRecordsItsResumedAttempt()
{
    QVector<OrderEvent> events = scenario(Kind::Success, kOrder, baseTime(), 250);
    // Payment (events[3] STEP_STARTED, events[4] STEP_COMPLETED) waited 30 s for the lease.
    for (int i = 4; i < events.size(); ++i)
        events[i].timestamp = events[i].timestamp.addMSecs(30000);
    events[4].details.insert(QStringLiteral("resumed"), true);
    events[4].details.insert(QStringLiteral("resumedAt"),
                             SagaJson::formatTimestamp(events[4].timestamp.addMSecs(-180)));
    EtaEstimator eta;
    OrderProgress p(kOrder);
    for (const OrderEvent &e : std::as_const(events))
        eta.observe(p, p.apply(e).changes);
    QCOMPARE(eta.sampleCount(SagaStep::Payment), 1);
    QCOMPARE(eta.p95(SagaStep::Payment), 180);
    QCOMPARE(eta.p50(SagaStep::Inventory), 250);
    QCOMPARE(eta.p50(SagaStep::Shipping), 250);
    // Without the detail (an older engine's record) the wait is all it can know.
    events[4].details = {};
    EtaEstimator old;
    OrderProgress q(kOrder);
    for (const OrderEvent &e : std::as_const(events))
        old.observe(q, q.apply(e).changes);
    QCOMPARE(old.p95(SagaStep::Payment), 30250);
}

void tst_EtaEstimator::isLate()
{
    const EtaEstimator eta;
    const QVector<OrderEvent> events = scenario(Kind::Success, kOrder);
    const OrderProgress p = foldPrefix(events, 4); // payment running since events[3]
    const QDateTime start = events[3].timestamp;
    // p95 budget: payment 3000 + shipping 2500, and a quarter of it (1375) for the
    // events to reach the console.
    QVERIFY(!eta.isLate(p, start.addMSecs(6875)));
    QVERIFY(eta.isLate(p, start.addMSecs(6876)));

    // Steady 300 ms steps (p95 = p50, as the simulated steps of a demo): an order on
    // time, whose events reach the console 200 ms after they happened, is not late;
    // the grace is half a second at least.
    EtaEstimator steady;
    for (int i = 0; i < 20; ++i) {
        OrderProgress done(QUuid::createUuid());
        for (const OrderEvent &e : scenario(Kind::Success, done.orderId, baseTime(), 300))
            steady.observe(done, done.apply(e).changes);
    }
    QCOMPARE(steady.p95(SagaStep::Shipping), 300);
    const QVector<OrderEvent> demo = scenario(Kind::Success, kOrder, baseTime(), 300);
    const OrderProgress paying = foldPrefix(demo, 4);
    const QDateTime paymentStart = demo[3].timestamp;
    QVERIFY(!steady.isLate(paying, paymentStart.addMSecs(600 + 200))); // was late past 600
    QVERIFY(!steady.isLate(paying, paymentStart.addMSecs(600 + 500)));
    QVERIFY(steady.isLate(paying, paymentStart.addMSecs(600 + 501)));
}

void tst_EtaEstimator::setDefaults()
{
    EtaEstimator eta;
    eta.setDefaults(SagaStep::Inventory, 10, 20);
    QCOMPARE(eta.p50(SagaStep::Inventory), 10);
    QCOMPARE(eta.p95(SagaStep::Inventory), 20);
    eta.setDefaults(SagaStep::Inventory, 50, 5); // p95 never below p50
    QCOMPARE(eta.p95(SagaStep::Inventory), 50);
    eta.recordDuration(SagaStep::Inventory, 7);
    QCOMPARE(eta.p50(SagaStep::Inventory), 7); // history wins over defaults
}

QTEST_APPLESS_MAIN(tst_EtaEstimator)
#include "tst_etaestimator.moc"
