// The charts' figures: nearest-rank percentiles found by selection, and the
// statistics of a model checked against a reference that sorts.

#include "chartspanel.h"
#include "guitesthelpers.h"
#include "ordertreemodel.h"
#include "sagastatistics.h"

#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTest>

#include <algorithm>
#include <cmath>

using namespace SagaScenarios;

namespace {
qint64 sortedPercentile(QVector<qint64> v, double p)
{
    if (v.isEmpty())
        return -1;
    std::sort(v.begin(), v.end());
    const qsizetype rank = qsizetype(std::ceil(p / 100.0 * double(v.size())));
    return v.at(qBound<qsizetype>(0, rank - 1, v.size() - 1));
}

// `orders` finished sagas of every kind, each with its own step length, started
// one second apart (wrapping after `spreadSecs`).
void fill(OrderTreeModel &model, int orders, int spreadSecs)
{
    QVector<OrderEvent> events;
    for (int i = 0; i < orders; ++i) {
        Builder b(QUuid::createUuid(), baseTime().addSecs(i % spreadSecs), 10 + (i * 37) % 500);
        appendKind(b, Kind(i % kKindCount));
        events += b.events();
    }
    model.applyEvents(events);
}
} // namespace

class tst_SagaStatistics : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void percentileIsTheNearestRank();
    void computeMatchesASortingReference();
    void chartsPanelComputesInSlices();
};

void tst_SagaStatistics::percentileIsTheNearestRank()
{
    QVector<qint64> none;
    QCOMPARE(SagaStatistics::percentile(none, 50), qint64(-1));

    QVector<qint64> ten{7, 1, 9, 3, 10, 2, 8, 4, 6, 5};
    QCOMPARE(SagaStatistics::percentile(ten, 50), qint64(5)); // rank 5 of 10
    QCOMPARE(SagaStatistics::percentile(ten, 95), qint64(10)); // rank 10
    QCOMPARE(SagaStatistics::percentile(ten, 10), qint64(1));
    QCOMPARE(SagaStatistics::percentile(ten, 0), qint64(1));

    QRandomGenerator random(42);
    for (int n : {1, 2, 3, 101, 1000, 4097}) {
        QVector<qint64> samples(n);
        for (qint64 &s : samples)
            s = random.bounded(0, 2000); // with repeats
        for (double p : {1.0, 50.0, 95.0, 99.0, 100.0}) {
            QVector<qint64> selected = samples;
            QCOMPARE(SagaStatistics::percentile(selected, p), sortedPercentile(samples, p));
            std::sort(selected.begin(), selected.end()); // reordered, not changed
            QVector<qint64> sorted = samples;
            std::sort(sorted.begin(), sorted.end());
            QCOMPARE(selected, sorted);
        }
    }
}

void tst_SagaStatistics::computeMatchesASortingReference()
{
    OrderTreeModel model;
    fill(model, 240, 240);
    QCOMPARE(model.orderCount(), 240);

    const SagaStatistics stats = SagaStatistics::compute(model, baseTime().addSecs(3600), 120, 60);

    std::array<QVector<qint64>, kStepCount> reference;
    int completed = 0, rolledBack = 0, failed = 0;
    for (int row = 0; row < model.rowCount(); ++row) {
        const OrderProgress *p = model.orderAt(model.index(row, 0));
        QVERIFY(p);
        for (SagaStep s : kAllSteps) {
            const StepProgress &step = p->step(s);
            if ((step.status == StepStatus::Completed || step.status == StepStatus::Compensating
                 || step.status == StepStatus::Compensated)
                && step.durationMs() >= 0)
                reference[size_t(s)] << step.durationMs();
        }
        completed += p->overallStatus == OverallStatus::Completed;
        rolledBack += p->overallStatus == OverallStatus::RolledBack;
        failed += p->overallStatus == OverallStatus::Failed;
    }
    for (SagaStep s : kAllSteps) {
        const SagaStatistics::StepDurations &d = stats.steps[size_t(s)];
        QVERIFY(!reference[size_t(s)].isEmpty());
        QCOMPARE(d.samplesMs.size(), reference[size_t(s)].size());
        QCOMPARE(d.p50, sortedPercentile(reference[size_t(s)], 50));
        QCOMPARE(d.p95, sortedPercentile(reference[size_t(s)], 95));
        QCOMPARE(d.p99, sortedPercentile(reference[size_t(s)], 99));
        QVERIFY(d.p50 < d.p99); // the durations differ from order to order
    }
    int seenCompleted = 0, seenRolledBack = 0, seenFailed = 0;
    for (const SagaStatistics::OutcomeBucket &b : stats.outcomes) {
        seenCompleted += b.completed;
        seenRolledBack += b.rolledBack;
        seenFailed += b.failed;
    }
    QCOMPARE(seenCompleted, completed);
    QCOMPARE(seenRolledBack, rolledBack);
    QCOMPARE(seenFailed, failed);
    QVERIFY(completed > 0 && rolledBack > 0 && failed > 0);
}

// The panel reads at most kRowsPerSlice orders per event-loop turn and ends with
// the same figures as one pass; a refresh asked for meanwhile does not restart it.
void tst_SagaStatistics::chartsPanelComputesInSlices()
{
    OrderTreeModel model;
    const int orders = 2 * ChartsPanel::kRowsPerSlice + 123;
    fill(model, orders, 600);
    QCOMPARE(model.orderCount(), orders);

    ChartsPanel panel(&model);
    QSignalSpy refreshed(&panel, &ChartsPanel::refreshed);
    panel.refresh();
    QCOMPARE(refreshed.count(), 0); // one slice so far
    QCOMPARE(panel.statistics().steps[0].samplesMs.size(), 0);
    panel.refresh(); // under way: carries on
    QVERIFY(refreshed.wait(5000));
    QCOMPARE(refreshed.count(), 1);

    const SagaStatistics whole = SagaStatistics::compute(model, QDateTime::currentDateTimeUtc(), 20, 60);
    for (SagaStep s : kAllSteps) {
        const SagaStatistics::StepDurations &sliced = panel.statistics().steps[size_t(s)];
        const SagaStatistics::StepDurations &once = whole.steps[size_t(s)];
        QVERIFY(!once.samplesMs.isEmpty());
        QCOMPARE(sliced.samplesMs.size(), once.samplesMs.size());
        QCOMPARE(sliced.p50, once.p50);
        QCOMPARE(sliced.p95, once.p95);
        QCOMPARE(sliced.p99, once.p99);
    }
    QTest::qWait(50);
    QCOMPARE(refreshed.count(), 1); // the second refresh() started nothing
}

QTEST_MAIN(tst_SagaStatistics)
#include "tst_sagastatistics.moc"
