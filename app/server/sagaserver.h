#pragma once

#include "apierror.h"
#include "apirequest.h"
#include "globalsequencer.h"
#include "httpreply.h"
#include "jwtverifier.h"
#include "ratelimiter.h"
#include "serverconfig.h"
#include "servermetrics.h"
#include "ssehub.h"
#include "storeerror.h"

#include <QAbstractHttpServer>
#include <QDateTime>
#include <QHash>
#include <QJsonObject>
#include <QMultiHash>
#include <QVector>
#include <functional>
#include <memory>

class EngineHost;
class GuardedTcpServer;
class EventFeed;
class StatusCache;
class StorePool;
class SagaStore;
struct PoolOutcome;
class QTcpServer;
struct OrderEvent;

// saga-server's HTTP front: every route of the API table (ARCHITECTURE.md) on
// QAbstractHttpServer, the SSE hub, authorization, error mapping, metrics.
//
// Threads: lives in the thread that created it (the main thread). SQL reads run
// on the StorePool and come back through queued calls; engine calls are
// asynchronous (EngineHost). Responses are written as one buffer straight onto
// the connection's socket, guarded by QPointer (the socket may be gone).
class SagaServer : public QAbstractHttpServer
{
    Q_OBJECT
public:
    SagaServer(const ServerConfig &config, EngineHost *engine, QObject *parent = nullptr);
    ~SagaServer() override;

    // Binds config.listenAddress:listenPort without accepting yet (connections wait
    // in the kernel's queue): a port that is taken is found before the engine starts.
    bool listen(QString *error = nullptr);
    // Serves on the socket listen() bound (binding it first if need be); returns
    // the port (0 on failure).
    quint16 start(QString *error = nullptr);
    quint16 port() const { return m_port; }

    // Stops accepting connections and new orders, answers waiting requests,
    // closes every event stream.
    void beginShutdown();
    bool isShuttingDown() const { return m_shuttingDown; }

    SseHub &hub() { return *m_hub; }
    // PostgreSQL: the other processes' events (null on SQLite).
    EventFeed *eventFeed() const { return m_feed.get(); }
    const GlobalSequencer &sequencer() const { return m_sequencer; }
    const ServerMetrics &metrics() const { return m_metrics; }
    const RateLimiter &rateLimiter() const { return m_limiter; }

protected:
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;

private:
    struct Waiter {
        ApiRequest request;
        QUuid orderId;
        QString orderNumber;
        int waitSeconds = 0;
        bool replayed = false; // an Idempotency-Key's order placed before
    };

    // responses
    void reply(const ApiRequest &r, int status, const QByteArray &contentType, const QByteArray &body,
               const HttpReply::Headers &extra = {});
    void replyJson(const ApiRequest &r, int status, const QJsonObject &json, const HttpReply::Headers &extra = {});
    void replyError(const ApiRequest &r, const ApiError &error);
    // Runs `read` on a pool thread (its own store connection) and answers with its outcome.
    void answerFromPool(const ApiRequest &r, std::function<PoolOutcome(SagaStore *)> read);

    // request pipeline
    std::optional<ApiError> authenticate(const QHttpServerRequest &request, ApiRequest &r);
    // Per-client limits (RateLimiter): the error to answer instead, if any. admit()
    // reserves the stream slot of a stream request (r.streamSlot).
    std::optional<ApiError> admitUnauthenticated(const ApiRequest &r);
    std::optional<ApiError> admit(ApiRequest &r);
    std::optional<ApiError> checkJsonBody(const ApiRequest &r, bool required) const;
    void dispatch(ApiRequest &r);
    // 503 for an order or retry the engine refused because the database takes no
    // writes: the kind of outage (details.cause) and what it means, as /health says.
    ApiError writeRefused(StoreError::Outage outage) const;

    // routes
    void createOrder(const ApiRequest &r);
    void listOrders(const ApiRequest &r);
    void customerOrders(const ApiRequest &r);
    void getOrder(const ApiRequest &r);
    void getStatus(const ApiRequest &r);
    void statusStream(const ApiRequest &r);
    void resumeStatusStream(const ApiRequest &r, qint64 lastEventId);
    void streamEnded(const ApiRequest &r);
    void allOrdersStream(const ApiRequest &r);
    void openAllOrdersStream(const ApiRequest &r, qint64 lastPosition);
    quint64 endsWithToken(quint64 streamKey, const ApiRequest &r);
    void getHistory(const ApiRequest &r);
    void getEvents(const ApiRequest &r);
    void retryEligibility(const ApiRequest &r);
    void retryOrder(const ApiRequest &r);
    void retryHistory(const ApiRequest &r);
    void getFaults(const ApiRequest &r);
    void putFaults(const ApiRequest &r);
    void health(const ApiRequest &r);
    void metricsRoute(const ApiRequest &r);

    // events
    void onEventsCommitted(const QVector<OrderEvent> &events);
    // `local`: committed by this process's engine (counted in the metrics);
    // otherwise read by the event feed (every process's events, ours included).
    void processEvents(const QVector<OrderEvent> &events, bool local);
    void flushFrames();
    struct ReplayFold;
    // unanswered: the resuming request whose head waits for the first page.
    void replayNext(quint64 key, qint64 cursor, std::shared_ptr<ReplayFold> fold,
                    std::shared_ptr<const ApiRequest> unanswered = nullptr);
    void resolveWaiters(const QUuid &orderId);
    void answerWaiter(quint64 key, bool ended);
    QJsonObject orderOutcomeJson(const QUuid &orderId, const QString &orderNumber, const QByteArray &traceId) const;
    void withAccessibleOrder(const ApiRequest &r, std::function<void(const ApiRequest &)> next);
    bool startStream(const ApiRequest &r);
    bool pipelinedStream(const ApiRequest &r);

    ServerConfig m_config;
    EngineHost *m_engine;
    std::unique_ptr<StorePool> m_pool;
    std::unique_ptr<StatusCache> m_cache;
    std::unique_ptr<SseHub> m_hub;
    std::unique_ptr<EventFeed> m_feed;
    GlobalSequencer m_sequencer;
    // Frames of the batches committed in this event-loop turn, written together.
    QVector<SseHub::OrderFrame> m_outOrderFrames;
    QVector<SseHub::Frame> m_outGlobalFrames;
    QDateTime m_outOldest; // timestamp of the oldest event waiting in them
    bool m_flushQueued = false;
    JwtVerifier m_jwt;
    RateLimiter m_limiter;
    ServerMetrics m_metrics;
    std::unique_ptr<GuardedTcpServer> m_listener; // listen()'s socket until start() serves on it
    QTcpServer *m_tcp = nullptr; // child (bound to this server)
    quint16 m_port = 0;
    bool m_shuttingDown = false;
    bool m_databaseAvailable = true;
    QString m_databaseReason;            // the engine's sentence for people (no paths, hosts or SQL)
    StoreError::Outage m_databaseOutage = StoreError::Outage::Unknown;
    qint64 m_databaseDownSinceMs = 0;
    qint64 m_startedAtMs = 0;
    quint64 m_nextWaiter = 1;
    QHash<quint64, Waiter> m_waiters;
    QMultiHash<QUuid, quint64> m_waitersByOrder;
};
