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
    Accumulator a(now, buckets, bucketSeconds);
    a.addRows(model, 0, model.rowCount());
    return a.finish();
}

void SagaStatistics::Accumulator::addRows(const OrderTreeModel &model, int from, int to)
{
    for (int row = from; row < to; ++row) {
        if (const OrderProgress *p = model.orderAt(model.index(row, 0)))
            add(*p);
    }
}

SagaStatistics::Accumulator::Accumulator(const QDateTime &now, int buckets, int bucketSeconds)
{
    m_stats.bucketSeconds = bucketSeconds;
    const QDateTime end = now.toUTC();
    m_endSecs = end.toSecsSinceEpoch() / bucketSeconds * bucketSeconds + bucketSeconds;
    m_startSecs = m_endSecs - qint64(buckets) * bucketSeconds;
    m_stats.outcomes.resize(buckets);
    for (int i = 0; i < buckets; ++i)
        m_stats.outcomes[i].start = QDateTime::fromSecsSinceEpoch(m_startSecs + qint64(i) * bucketSeconds, Qt::UTC);
}

void SagaStatistics::Accumulator::add(const OrderProgress &p)
{
    for (SagaStep s : kAllSteps) {
        const StepProgress &step = p.step(s);
        // Forward duration of a step that succeeded (later compensation does not change it).
        if (step.status == StepStatus::Completed || step.status == StepStatus::Compensating
            || step.status == StepStatus::Compensated) {
            const qint64 ms = step.durationMs();
            if (ms >= 0)
                m_stats.steps[size_t(s)].samplesMs.append(ms);
        }
    }
    if (!p.isTerminal() || !p.lastUpdated.isValid())
        return;
    const qint64 secs = p.lastUpdated.toSecsSinceEpoch();
    if (secs < m_startSecs || secs >= m_endSecs)
        return;
    OutcomeBucket &b = m_stats.outcomes[int((secs - m_startSecs) / m_stats.bucketSeconds)];
    switch (p.overallStatus) {
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

SagaStatistics SagaStatistics::Accumulator::finish()
{
    for (StepDurations &d : m_stats.steps) {
        d.p50 = percentile(d.samplesMs, 50);
        d.p95 = percentile(d.samplesMs, 95);
        d.p99 = percentile(d.samplesMs, 99);
    }
    return std::move(m_stats);
}
