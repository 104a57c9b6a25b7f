#pragma once

#include "sagastatus.h"

#include <QDateTime>
#include <QVector>
#include <array>

class OrderTreeModel;

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
    // Nearest-rank percentile of `samples`; -1 when empty. Selects instead of
    // sorting (std::nth_element: linear, where sorting the ~100,000 samples of each
    // step every refresh took ~15 ms of the GUI thread), so it reorders them.
    static qint64 percentile(QVector<qint64> &samples, double p);
};
