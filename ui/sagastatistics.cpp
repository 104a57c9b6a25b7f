#include "sagastatistics.h"

#include "ordertreemodel.h"

#include <algorithm>
#include <cmath>

qint64 SagaStatistics::percentile(QVector<qint64> &samples, double p)
{
    if (samples.isEmpty())
        return -1;
    const qsizetype rank = qsizetype(std::ceil(p / 100.0 * double(samples.size())));
    const auto nth = samples.begin() + qBound<qsizetype>(0, rank - 1, samples.size() - 1);
    std::nth_element(samples.begin(), nth, samples.end());
    return *nth;
}

SagaStatistics SagaStatistics::compute(const OrderTreeModel &model, const QDateTime &now, int buckets,
                                       int bucketSeconds)
{
    SagaStatistics stats;
    stats.bucketSeconds = bucketSeconds;
    const QDateTime end = now.toUTC();
    const qint64 endSecs = end.toSecsSinceEpoch() / bucketSeconds * bucketSeconds + bucketSeconds;
    const qint64 startSecs = endSecs - qint64(buckets) * bucketSeconds;
    stats.outcomes.resize(buckets);
    for (int i = 0; i < buckets; ++i)
        stats.outcomes[i].start = QDateTime::fromSecsSinceEpoch(startSecs + qint64(i) * bucketSeconds, Qt::UTC);

    const int rows = model.rowCount();
    for (int row = 0; row < rows; ++row) {
        const OrderProgress *p = model.orderAt(model.index(row, 0));
        if (!p)
            continue;
        for (SagaStep s : kAllSteps) {
            const StepProgress &step = p->step(s);
            // Forward duration of a step that succeeded (later compensation does not change it).
            if (step.status == StepStatus::Completed || step.status == StepStatus::Compensating
                || step.status == StepStatus::Compensated) {
                const qint64 ms = step.durationMs();
                if (ms >= 0)
                    stats.steps[size_t(s)].samplesMs.append(ms);
            }
        }
        if (!p->isTerminal() || !p->lastUpdated.isValid())
            continue;
        const qint64 secs = p->lastUpdated.toSecsSinceEpoch();
        if (secs < startSecs || secs >= endSecs)
            continue;
        OutcomeBucket &b = stats.outcomes[int((secs - startSecs) / bucketSeconds)];
        switch (p->overallStatus) {
        case OverallStatus::Completed:
            ++b.completed;
            break;
        case OverallStatus::RolledBack:
            ++b.rolledBack;
            break;
        case OverallStatus::Failed:
            ++b.failed;
            break;
        default:
            break;
        }
    }
    for (StepDurations &d : stats.steps) {
        d.p50 = percentile(d.samplesMs, 50);
        d.p95 = percentile(d.samplesMs, 95);
        d.p99 = percentile(d.samplesMs, 99);
    }
    return stats;
}
