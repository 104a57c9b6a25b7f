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
        QVector<qint64> samplesMs; // sorted
        qint64 p50 = -1;
        qint64 p95 = -1;
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
    // Nearest-rank percentile of sorted samples; -1 when empty.
    static qint64 percentile(const QVector<qint64> &sorted, double p);
};
