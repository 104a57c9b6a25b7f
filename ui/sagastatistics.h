#pragma once

#include "sagastatus.h"

#include <QDateTime>
#include <QVector>
#include <array>

class OrderTreeModel;
class OrderProgress;

// Figures for the charts, computed from the orders in the model: the duration
// distribution of each step (completed forward calls) with p50/p95, and how
// many sagas ended completed / rolled back / failed per time bucket.
struct SagaStatistics {
    struct StepDurations {
        QVector<qint64> samplesMs; // in no particular order
        qint64 p50 = -1;
        qint64 p95 = -1;
        qint64 p99 = -1;
    };
    struct OutcomeBucket {
        QDateTime start; // UTC
        int completed = 0;
        int rolledBack = 0;
        int failed = 0;
    };
    std::array<StepDurations, kStepCount> steps;
    QVector<OutcomeBucket> outcomes; // oldest first
    int bucketSeconds = 60;

    // `buckets` buckets of `bucketSeconds` ending at `now`.
    static SagaStatistics compute(const OrderTreeModel &model, const QDateTime &now, int buckets = 30,
                                  int bucketSeconds = 60);

    // The same, order by order (below).
    class Accumulator;

    // Nearest-rank percentile of `samples`; -1 when empty. Selects instead of
    // sorting (std::nth_element: linear time), so it reorders them.
    static qint64 percentile(QVector<qint64> &samples, double p);
};

// The same, order by order: ChartsPanel feeds it a slice of the model's rows
// per event-loop turn, so 100,000 orders do not hold the GUI thread in one go.
class SagaStatistics::Accumulator
{
public:
    Accumulator(const QDateTime &now, int buckets, int bucketSeconds);
    void add(const OrderProgress &order);
    void addRows(const OrderTreeModel &model, int from, int to); // top-level rows [from, to)
    SagaStatistics finish(); // percentiles worked out; the accumulator is spent

private:
    SagaStatistics m_stats;
    qint64 m_startSecs = 0;
    qint64 m_endSecs = 0;
};
