#pragma once

#include "orderprogress.h"

#include <QDateTime>
#include <array>
#include <vector>

// Estimates when an order's saga will finish from the durations of finished steps.
//
//   estimatedCompletion = now
//                       + max(0, p50(running step) - elapsed in it)
//                       + sum of p50 of the steps still pending
//                       + a variance buffer: sum of (p95 - p50) over running and pending steps
//
// With no history for a step its defaults are used. Terminal orders have no estimate.
// Defaults (ms, p50/p95): Inventory 800/2000, Payment 1200/3000, Shipping 1000/2500.
// While ROLLING_BACK, steps still COMPLETED or COMPENSATING count as pending (their
// compensation is assumed to take about as long as the forward call).
// Percentiles use the nearest-rank method over the last kWindow samples. They are
// recomputed lazily, at most once per max(1, samples/64) new samples, so a busy
// model does not re-sort the window on every event (exact below 64 samples).
class EtaEstimator
{
public:
    static constexpr int kWindow = 2048; // most recent samples kept per step

    EtaEstimator();

    void recordDuration(SagaStep step, qint64 ms);
    // Records the duration of every step that `changes` shows just became COMPLETED.
    void observe(const OrderProgress &progress, const ChangeSet &changes);

    qint64 p50(SagaStep step) const;
    qint64 p95(SagaStep step) const;
    int sampleCount(SagaStep step) const;
    void setDefaults(SagaStep step, qint64 p50Ms, qint64 p95Ms);
    // Forgets every recorded duration (the defaults stay): another source's steps.
    void clearSamples();

    // Null QDateTime when the order is terminal.
    QDateTime estimate(const OrderProgress &progress, const QDateTime &now) const;
    // True when `now` is past the estimate made with p95 for every remaining step,
    // by more than a quarter of it (half a second at least): time for the events
    // to reach a console.
    bool isLate(const OrderProgress &progress, const QDateTime &now) const;

private:
    struct StepStats {
        std::vector<qint64> samples; // ring buffer
        size_t next = 0;
        qint64 defaultP50 = 0;
        qint64 defaultP95 = 0;
        mutable bool dirty = true;
        mutable size_t pending = 0;            // samples since the last refresh
        mutable std::vector<qint64> scratch;   // reused by refresh(), no allocation per call
        mutable qint64 cachedP50 = 0;
        mutable qint64 cachedP95 = 0;
    };
    void refresh(const StepStats &s) const;
    std::array<StepStats, kStepCount> m_stats;
};
