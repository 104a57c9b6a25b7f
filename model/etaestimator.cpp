#include "etaestimator.h"

#include <algorithm>

namespace {

constexpr qint64 kDefaultP50[kStepCount] = {800, 1200, 1000};
constexpr qint64 kDefaultP95[kStepCount] = {2000, 3000, 2500};

// Nearest rank: the smallest sample with at least p % of the samples at or below it.
size_t rankIndex(size_t n, int percent)
{
    const size_t rank = (n * size_t(percent) + 99) / 100; // ceil(n * p / 100)
    return rank == 0 ? 0 : rank - 1;
}

} // namespace

EtaEstimator::EtaEstimator()
{
    for (int i = 0; i < kStepCount; ++i) {
        m_stats[size_t(i)].defaultP50 = kDefaultP50[i];
        m_stats[size_t(i)].defaultP95 = kDefaultP95[i];
        m_stats[size_t(i)].samples.reserve(64);
    }
}

void EtaEstimator::recordDuration(SagaStep step, qint64 ms)
{
    if (ms < 0)
        return;
    StepStats &s = m_stats[size_t(step)];
    if (s.samples.size() < size_t(kWindow)) {
        s.samples.push_back(ms);
    } else {
        s.samples[s.next] = ms;
        s.next = (s.next + 1) % size_t(kWindow);
    }
    ++s.pending;
    if (s.pending >= std::max<size_t>(1, s.samples.size() / 64))
        s.dirty = true;
}

void EtaEstimator::clearSamples()
{
    for (StepStats &s : m_stats) {
        s.samples.clear();
        s.next = 0;
        s.pending = 0;
        s.dirty = true;
    }
}

void EtaEstimator::observe(const OrderProgress &progress, const ChangeSet &changes)
{
    for (SagaStep step : kAllSteps) {
        if (!(changes.steps[size_t(step)] & ChangeSet::StepStatusField))
            continue;
        const StepProgress &sp = progress.step(step);
        if (sp.status == StepStatus::Completed) {
            const qint64 d = sp.durationMs();
            if (d >= 0)
                recordDuration(step, d);
        }
    }
}

void EtaEstimator::refresh(const StepStats &s) const
{
    if (!s.dirty)
        return;
    s.dirty = false;
    s.pending = 0;
    if (s.samples.empty()) {
        s.cachedP50 = s.defaultP50;
        s.cachedP95 = s.defaultP95;
        return;
    }
    s.scratch.assign(s.samples.begin(), s.samples.end());
    const size_t n = s.scratch.size();
    const auto i50 = s.scratch.begin() + std::ptrdiff_t(rankIndex(n, 50));
    const auto i95 = s.scratch.begin() + std::ptrdiff_t(rankIndex(n, 95));
    std::nth_element(s.scratch.begin(), i95, s.scratch.end());
    s.cachedP95 = *i95;
    std::nth_element(s.scratch.begin(), i50, i95 + 1);
    s.cachedP50 = *i50;
}

qint64 EtaEstimator::p50(SagaStep step) const
{
    const StepStats &s = m_stats[size_t(step)];
    refresh(s);
    return s.cachedP50;
}

qint64 EtaEstimator::p95(SagaStep step) const
{
    const StepStats &s = m_stats[size_t(step)];
    refresh(s);
    return s.cachedP95;
}

int EtaEstimator::sampleCount(SagaStep step) const
{
    return int(m_stats[size_t(step)].samples.size());
}

void EtaEstimator::setDefaults(SagaStep step, qint64 p50Ms, qint64 p95Ms)
{
    StepStats &s = m_stats[size_t(step)];
    s.defaultP50 = qMax<qint64>(0, p50Ms);
    s.defaultP95 = qMax(s.defaultP50, p95Ms);
    s.dirty = true;
}

namespace {

enum class Remaining : quint8 { None, Running, Pending };

Remaining remainingOf(const OrderProgress &p, const StepProgress &sp)
{
    switch (sp.status) {
    case StepStatus::InProgress:
        return Remaining::Running;
    case StepStatus::Pending:
        return Remaining::Pending;
    case StepStatus::Completed:
    case StepStatus::Compensating:
        return p.overallStatus == OverallStatus::RollingBack ? Remaining::Pending : Remaining::None;
    default:
        return Remaining::None;
    }
}

} // namespace

QDateTime EtaEstimator::estimate(const OrderProgress &progress, const QDateTime &now) const
{
    if (progress.isTerminal() || !now.isValid())
        return {};
    const qint64 nowMs = now.toMSecsSinceEpoch();
    qint64 left = 0;
    for (const StepProgress &sp : progress.steps) {
        const Remaining r = remainingOf(progress, sp);
        if (r == Remaining::None)
            continue;
        const qint64 median = p50(sp.step);
        const qint64 buffer = qMax<qint64>(0, p95(sp.step) - median);
        if (r == Remaining::Running) {
            const qint64 elapsed =
                sp.startedAt.isValid() ? qMax<qint64>(0, nowMs - sp.startedAt.toMSecsSinceEpoch()) : 0;
            left += qMax<qint64>(0, median - elapsed);
        } else {
            left += median;
        }
        left += buffer;
    }
    return QDateTime::fromMSecsSinceEpoch(nowMs + left, Qt::UTC);
}

// Late when `now` is past a pessimistic finish: the running step's start (or the
// last update when none runs) plus p95 of the running and every pending step, plus
// a grace of a quarter of that budget, half a second at least. The p95s are
// measured between the events' own timestamps, while `now` also holds the time the
// events take to reach a console (a commit, a batch, a stream): with steady step
// times (p95 close to p50, as the simulated steps of a demo), orders on time were
// marked late for a moment at every step's end.
bool EtaEstimator::isLate(const OrderProgress &progress, const QDateTime &now) const
{
    if (progress.isTerminal() || !now.isValid())
        return false;
    qint64 anchor = progress.lastUpdated.isValid() ? progress.lastUpdated.toMSecsSinceEpoch()
                                                   : now.toMSecsSinceEpoch();
    qint64 budget = 0;
    for (const StepProgress &sp : progress.steps) {
        const Remaining r = remainingOf(progress, sp);
        if (r == Remaining::None)
            continue;
        if (r == Remaining::Running && sp.startedAt.isValid())
            anchor = qMin(anchor, sp.startedAt.toMSecsSinceEpoch());
        budget += p95(sp.step);
    }
    constexpr qint64 kMinGraceMs = 500;
    return now.toMSecsSinceEpoch() > anchor + budget + qMax(kMinGraceMs, budget / 4);
}
