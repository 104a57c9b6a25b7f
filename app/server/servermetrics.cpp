#include "servermetrics.h"

namespace {
const std::vector<double> kStepBounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const std::vector<double> kFanoutBounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
const std::vector<double> kSagaBounds{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

QByteArray number(double value)
{
    return QByteArray::number(value, 'g', 12);
}

QByteArray stepLabel(int step)
{
    return QByteArray("step=\"") + stepDisplayName(SagaStep(step)).toUtf8() + '"';
}
} // namespace

void ServerMetrics::Histogram::observe(double value)
{
    for (size_t i = 0; i < bounds.size(); ++i) {
        if (value <= bounds[i])
            ++counts[i];
    }
    ++counts.back();
    sum += value;
    ++count;
}

void ServerMetrics::Histogram::render(QByteArray &out, const QByteArray &name,
                                      const QByteArray &labels) const
{
    const QByteArray sep = labels.isEmpty() ? QByteArray() : labels + ',';
    for (size_t i = 0; i < bounds.size(); ++i) {
        out.append(name).append("_bucket{").append(sep).append("le=\"").append(number(bounds[i]))
            .append("\"} ").append(QByteArray::number(counts[i])).append('\n');
    }
    out.append(name).append("_bucket{").append(sep).append("le=\"+Inf\"} ")
        .append(QByteArray::number(counts.back())).append('\n');
    const QByteArray braces = labels.isEmpty() ? QByteArray() : '{' + labels + '}';
    out.append(name).append("_sum").append(braces).append(' ').append(number(sum)).append('\n');
    out.append(name).append("_count").append(braces).append(' ').append(QByteArray::number(count)).append('\n');
}

ServerMetrics::ServerMetrics()
{
    for (Histogram &h : m_stepDurations) {
        h.bounds = kStepBounds;
        h.counts.assign(kStepBounds.size() + 1, 0);
    }
    m_sagaDuration.bounds = kSagaBounds;
    m_sagaDuration.counts.assign(kSagaBounds.size() + 1, 0);
    for (Histogram *h : {&m_fanout, &m_commitToSend}) {
        h->bounds = kFanoutBounds;
        h->counts.assign(kFanoutBounds.size() + 1, 0);
    }
}

void ServerMetrics::observeFanout(double sweepSeconds, double ageSeconds)
{
    m_fanout.observe(sweepSeconds);
    m_commitToSend.observe(ageSeconds);
}

void ServerMetrics::countRequest(int status)
{
    ++m_requests[status];
}

void ServerMetrics::countRateLimited(RateLimit limit)
{
    ++m_rateLimited[size_t(limit)];
}

void ServerMetrics::observe(const OrderEvent &event, const OrderProgress *after)
{
    const int step = event.step ? int(*event.step) : -1;
    switch (event.type) {
    case EventType::SagaStarted:
        ++m_started;
        m_sagaStart.insert(event.orderId, event.timestamp);
        break;
    case EventType::StepStarted:
        if (step >= 0)
            m_stepStart.insert({event.orderId, step}, event.timestamp);
        break;
    case EventType::StepCompleted:
    case EventType::StepFailed:
        if (step >= 0) {
            QDateTime started = m_stepStart.take({event.orderId, step});
            const bool compensationPhase =
                event.details.value(QLatin1String("phase")).toString() == QLatin1String("COMPENSATION");
            // A step taken over after an interruption: its work from the resumed
            // attempt's start, not the wait for the lease (as StepProgress::durationMs).
            if (const QDateTime resumed = resumedAttemptStart(event); resumed.isValid())
                started = resumed;
            if (started.isValid() && !compensationPhase)
                m_stepDurations[size_t(step)].observe(started.msecsTo(event.timestamp) / 1000.0);
            if (event.type == EventType::StepFailed)
                ++m_stepFailures[size_t(step)];
        }
        break;
    case EventType::SagaCompleted:
    case EventType::SagaFailed: {
        if (event.type == EventType::SagaCompleted) {
            ++m_completed;
        } else {
            const bool rolledBack = after ? after->overallStatus == OverallStatus::RolledBack
                                          : !event.details.value(QLatin1String("compensationIncomplete")).toBool()
                                                && event.details.value(QLatin1String("failedStep")).toString()
                                                       != stepDisplayName(SagaStep::Inventory);
            if (rolledBack)
                ++m_compensated;
            else
                ++m_failed;
        }
        const QDateTime started = m_sagaStart.take(event.orderId);
        if (started.isValid())
            m_sagaDuration.observe(started.msecsTo(event.timestamp) / 1000.0);
        for (int s = 0; s < kStepCount; ++s)
            m_stepStart.remove({event.orderId, s});
        break;
    }
    case EventType::CompensationStarted:
    case EventType::StepCompensated:
    case EventType::Unrecognized:
        break;
    }
}

QByteArray ServerMetrics::render(int sseSubscribers, quint64 sseDropped, bool databaseUp) const
{
    QByteArray out;
    out.reserve(8192);
    auto counter = [&out](const char *name, const char *help, quint64 value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" counter\n");
        out.append(name).append(' ').append(QByteArray::number(value)).append('\n');
    };
    counter("saga_started_total", "Sagas started (including retries).", m_started);
    counter("saga_completed_total", "Sagas that completed every step.", m_completed);
    counter("saga_compensated_total", "Sagas that failed and compensated every completed step.", m_compensated);
    counter("saga_failed_total", "Sagas that failed with nothing to compensate or incomplete compensation.", m_failed);

    out.append("# HELP saga_step_failures_total Step failures by step.\n");
    out.append("# TYPE saga_step_failures_total counter\n");
    for (int s = 0; s < kStepCount; ++s) {
        out.append("saga_step_failures_total{").append(stepLabel(s)).append("} ")
            .append(QByteArray::number(m_stepFailures[size_t(s)])).append('\n');
    }
    out.append("# HELP saga_step_duration_seconds Duration of forward step calls.\n");
    out.append("# TYPE saga_step_duration_seconds histogram\n");
    for (int s = 0; s < kStepCount; ++s)
        m_stepDurations[size_t(s)].render(out, "saga_step_duration_seconds", stepLabel(s));
    out.append("# HELP saga_duration_seconds Duration of sagas from start to their end.\n");
    out.append("# TYPE saga_duration_seconds histogram\n");
    m_sagaDuration.render(out, "saga_duration_seconds", {});

    out.append("# HELP http_requests_total HTTP responses by status code.\n");
    out.append("# TYPE http_requests_total counter\n");
    for (auto it = m_requests.cbegin(); it != m_requests.cend(); ++it) {
        out.append("http_requests_total{code=\"").append(QByteArray::number(it.key())).append("\"} ")
            .append(QByteArray::number(it.value())).append('\n');
    }
    out.append("# HELP http_rate_limited_total Requests answered 429 by a per-client limit (requests: new orders, "
               "retries and fault changes; unauthenticated: requests without a valid token, by address; streams: "
               "open event streams).\n# TYPE http_rate_limited_total counter\n");
    const char *const limits[] = {"requests", "unauthenticated", "streams"};
    for (size_t i = 0; i < m_rateLimited.size(); ++i) {
        out.append("http_rate_limited_total{limit=\"").append(limits[i]).append("\"} ")
            .append(QByteArray::number(m_rateLimited[i])).append('\n');
    }
    out.append("# HELP sse_subscribers Open event streams.\n# TYPE sse_subscribers gauge\n");
    out.append("sse_subscribers ").append(QByteArray::number(sseSubscribers)).append('\n');
    out.append("# HELP sse_fanout_seconds Time of one fan-out sweep over every event-stream subscriber.\n"
               "# TYPE sse_fanout_seconds histogram\n");
    m_fanout.render(out, "sse_fanout_seconds", {});
    out.append("# HELP sse_commit_to_send_seconds From an event's commit timestamp to its frame handed to every socket.\n"
               "# TYPE sse_commit_to_send_seconds histogram\n");
    m_commitToSend.render(out, "sse_commit_to_send_seconds", {});
    counter("sse_slow_clients_dropped_total", "Event-stream clients disconnected because their backlog overflowed.", sseDropped);
    out.append("# HELP saga_database_up Whether the database is reachable (1) or not (0).\n# TYPE saga_database_up gauge\n");
    out.append("saga_database_up ").append(databaseUp ? "1" : "0").append('\n');
    return out;
}
