#pragma once

#include <QByteArray>
#include <QHash>
#include <QMutex>
#include <functional>
#include <memory>

// Per-client limits of saga-server (ServerConfig: rateLimit*, maxStreamsPerClient).
// A client is a key the server chooses: the token subject of an authenticated
// request, the peer address of one without a valid token.
//
// - Requests that create work take one token from the client's bucket: it
//   holds up to `burst` tokens and refills at `perSecond`. An empty bucket says
//   how many whole seconds (>= 1) until the next token.
// - Event streams: at most `maxStreams` open at once per client. A stream holds
//   a StreamSlot; the slot is given back when its last copy goes (the request
//   was refused, or the stream ended), from any thread.
//
// Memory stays bounded: a bucket that has refilled to full is the same as none,
// so buckets of idle clients are dropped (swept at most once per refill time);
// a client's stream count goes when its last slot does.
//
// Threads: take() and openStream() on one thread (the server's); slots may be
// released from any.
class RateLimiter
{
public:
    struct Limits {
        double perSecond = 50; // 0: no bucket limit
        double burst = 200;
        int maxStreams = 64;   // 0: no stream limit
        int streamRetryAfterSeconds = 5;
    };
    // Milliseconds on a monotonic clock (tests inject their own).
    using Clock = std::function<qint64()>;

    class StreamSlot
    {
    public:
        ~StreamSlot();
        StreamSlot(const StreamSlot &) = delete;
        StreamSlot &operator=(const StreamSlot &) = delete;

    private:
        friend class RateLimiter;
        struct Counts;
        StreamSlot(std::shared_ptr<Counts> counts, QByteArray client);
        std::shared_ptr<Counts> m_counts;
        QByteArray m_client;
    };

    explicit RateLimiter(const Limits &limits, Clock clock = {});
    ~RateLimiter();

    const Limits &limits() const { return m_limits; }
    bool limitsRequests() const { return m_limits.perSecond > 0; }

    // One request that creates work: 0 when it may go on, else the seconds to
    // wait before the client's next one is allowed (>= 1).
    int take(const QByteArray &client);

    // A stream for `client`: true with *slot set (null when streams are not
    // limited), or false with *retryAfterSeconds when it holds the maximum.
    bool openStream(const QByteArray &client, std::shared_ptr<StreamSlot> *slot, int *retryAfterSeconds);

    int trackedBuckets() const { return int(m_buckets.size()); }
    int openStreams(const QByteArray &client) const;

private:
    struct Bucket {
        double tokens = 0;
        qint64 atMs = 0; // when `tokens` was counted
    };
    void sweep(qint64 nowMs);

    Limits m_limits;
    Clock m_clock;
    QHash<QByteArray, Bucket> m_buckets;
    qint64 m_lastSweepMs = 0;
    std::shared_ptr<StreamSlot::Counts> m_streams;
};
