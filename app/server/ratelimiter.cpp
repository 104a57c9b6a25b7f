#include "ratelimiter.h"

#include <QElapsedTimer>
#include <QMutexLocker>
#include <cmath>

// Open streams per client; shared with the slots, which may outlive the limiter.
struct RateLimiter::StreamSlot::Counts {
    QMutex mutex;
    QHash<QByteArray, int> open;
};

RateLimiter::StreamSlot::StreamSlot(std::shared_ptr<Counts> counts, QByteArray client)
    : m_counts(std::move(counts))
    , m_client(std::move(client))
{
}

RateLimiter::StreamSlot::~StreamSlot()
{
    QMutexLocker lock(&m_counts->mutex);
    const auto it = m_counts->open.find(m_client);
    if (it != m_counts->open.end() && --*it <= 0)
        m_counts->open.erase(it);
}

RateLimiter::RateLimiter(const Limits &limits, Clock clock)
    : m_limits(limits)
    , m_clock(std::move(clock))
    , m_streams(std::make_shared<StreamSlot::Counts>())
{
    if (!m_clock) {
        auto timer = std::make_shared<QElapsedTimer>();
        timer->start();
        m_clock = [timer] { return timer->elapsed(); };
    }
    m_lastSweepMs = m_clock();
}

RateLimiter::~RateLimiter() = default;

int RateLimiter::take(const QByteArray &client)
{
    if (m_limits.perSecond <= 0)
        return 0;
    const qint64 now = m_clock();
    sweep(now);
    auto it = m_buckets.find(client);
    if (it == m_buckets.end()) {
        it = m_buckets.insert(client, Bucket{m_limits.burst, now});
    } else {
        const double refill = double(now - it->atMs) / 1000.0 * m_limits.perSecond;
        it->tokens = qMin(m_limits.burst, it->tokens + qMax(0.0, refill));
        it->atMs = now;
    }
    if (it->tokens >= 1.0) {
        it->tokens -= 1.0;
        return 0;
    }
    const double seconds = (1.0 - it->tokens) / m_limits.perSecond;
    // (Bounded: a rate the command line refuses must not overflow the int either.)
    return int(qBound(1.0, std::ceil(seconds - 1e-9), 1e9));
}

void RateLimiter::sweep(qint64 nowMs)
{
    // Once per time an empty bucket takes to fill (between 1 s and a minute).
    const qint64 interval = qint64(qBound(1000.0, m_limits.burst / m_limits.perSecond * 1000.0, 60000.0));
    if (nowMs - m_lastSweepMs < interval)
        return;
    m_lastSweepMs = nowMs;
    for (auto it = m_buckets.begin(); it != m_buckets.end();) {
        const double refilled = it->tokens + double(nowMs - it->atMs) / 1000.0 * m_limits.perSecond;
        it = refilled >= m_limits.burst ? m_buckets.erase(it) : std::next(it);
    }
}

bool RateLimiter::openStream(const QByteArray &client, std::shared_ptr<StreamSlot> *slot, int *retryAfterSeconds)
{
    slot->reset();
    if (m_limits.maxStreams <= 0)
        return true;
    QMutexLocker lock(&m_streams->mutex);
    int &open = m_streams->open[client];
    if (open >= m_limits.maxStreams) {
        *retryAfterSeconds = qMax(1, m_limits.streamRetryAfterSeconds);
        return false;
    }
    ++open;
    slot->reset(new StreamSlot(m_streams, client)); // (private constructor: not make_shared)
    return true;
}

int RateLimiter::openStreams(const QByteArray &client) const
{
    QMutexLocker lock(&m_streams->mutex);
    return m_streams->open.value(client);
}
