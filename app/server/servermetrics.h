#pragma once

#include "orderevent.h"
#include "orderprogress.h"

#include <QByteArray>
#include <QDateTime>
#include <QHash>
#include <QMap>
#include <QUuid>
#include <array>
#include <vector>

// Counters and histograms of the sagas this server sees committed, and of its
// HTTP traffic, in the Prometheus text exposition format (version 0.0.4).
//   saga_started_total, saga_completed_total, saga_compensated_total, saga_failed_total
//   saga_step_failures_total{step}, saga_step_duration_seconds{step} (histogram),
//   saga_duration_seconds (histogram), http_requests_total{code},
//   sse_subscribers, sse_slow_clients_dropped_total,
//   sse_fanout_seconds (one sweep of a batch over every subscriber, histogram),
//   sse_commit_to_send_seconds (event timestamp to its frame handed to the sockets),
//   http_rate_limited_total{limit} (429 answers: limit = requests, unauthenticated, streams)
class ServerMetrics
{
public:
    ServerMetrics();

    // One committed event; `after` is the order's progress once applied (may be null).
    void observe(const OrderEvent &event, const OrderProgress *after);
    void countRequest(int status);
    // A request refused 429 by a per-client limit (RateLimiter).
    enum class RateLimit { Requests, Unauthenticated, Streams };
    void countRateLimited(RateLimit limit);
    // One fan-out sweep took `sweepSeconds`; its oldest event was `ageSeconds` old when sent.
    void observeFanout(double sweepSeconds, double ageSeconds);

    QByteArray render(int sseSubscribers, quint64 sseDropped, bool databaseUp) const;

    quint64 sagasStarted() const { return m_started; }
    quint64 sagasCompleted() const { return m_completed; }
    quint64 rateLimited(RateLimit limit) const { return m_rateLimited[size_t(limit)]; }

private:
    struct Histogram {
        std::vector<double> bounds;
        std::vector<quint64> counts; // one per bound, plus +Inf
        double sum = 0;
        quint64 count = 0;
        void observe(double value);
        void render(QByteArray &out, const QByteArray &name, const QByteArray &labels) const;
    };

    quint64 m_started = 0;
    quint64 m_completed = 0;
    quint64 m_compensated = 0;
    quint64 m_failed = 0;
    std::array<quint64, kStepCount> m_stepFailures{};
    std::array<Histogram, kStepCount> m_stepDurations;
    Histogram m_sagaDuration;
    Histogram m_fanout;
    Histogram m_commitToSend;
    QMap<int, quint64> m_requests;
    std::array<quint64, 3> m_rateLimited{}; // by RateLimit
    QHash<QUuid, QDateTime> m_sagaStart;                     // running sagas
    QHash<QPair<QUuid, int>, QDateTime> m_stepStart;         // running steps
};
