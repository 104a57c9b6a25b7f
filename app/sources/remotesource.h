#pragma once

#include "progresssource.h"
#include "ssestreamparser.h"

#include <QJsonDocument>
#include <QNetworkReply>
#include <QPointer>
#include <QTimer>
#include <QUrl>
#include <QUrlQuery>
#include <QHash>
#include <QSet>
#include <optional>

class QNetworkAccessManager;

// A saga-server over REST + SSE (ARCHITECTURE.md, "API"). Needs a SUPPORT token.
//
// Start: open GET /api/orders/stream (events are held back), page through
// GET /api/orders, deliver the snapshots, then the held-back events. The stream
// is parsed incrementally on readyRead. When it drops, the source turns Stale
// and reconnects with backoff, sending Last-Event-ID = the last global position
// it applied; events at or before that position are never delivered twice.
// Before resuming, the last event applied is looked up on the server
// (GET /api/orders/{id}/events): an order it does not hold, or another event at
// that order's seq, means other data than what is shown (restored from a backup,
// or restarted on another database whose positions already passed the one shown).
// So does a server that cannot resume from there (400: the position is after its
// newest event) or a resumed stream with a hole (an event of an order never seen
// that is not the order's first): everything is dropped (contentsReplaced) and
// loaded again.
// A server that limits this token (429) is asked again after its Retry-After,
// not sooner; an order or retry it refused so says when to try again.
class RemoteSource : public ProgressSource
{
    Q_OBJECT
public:
    RemoteSource(const QUrl &serverUrl, const QString &token, QObject *parent = nullptr);
    ~RemoteSource() override;

    QString kindName() const override;
    QString location() const override;
    Capabilities capabilities() const override;

    void start() override;
    void stop() override;

    void placeOrder(const OrderRequest &request, QObject *context,
                    std::function<void(PlaceOrderResult)> done) override;
    void retryEligibility(const QUuid &orderId, QObject *context,
                          std::function<void(RetryEligibility, QString error)> done) override;
    void retry(const RetryRequest &request, QObject *context,
               std::function<void(RetryDecision)> done) override;
    void faultPlan(QObject *context, std::function<void(FaultPlan, QString error)> done) override;
    void setFaultPlan(const FaultPlan &plan, QObject *context,
                      std::function<void(QString error)> done) override;
    void loadCase(const QUuid &orderId, QObject *context,
                  std::function<void(OrderCase, QString error)> done) override;

    qint64 lastPosition() const { return m_lastPosition; }
    int reconnectCount() const { return m_reconnects; }
    int skippedDuplicates() const { return m_skippedDuplicates; }
    // Longest silence (no byte, no heartbeat) before the stream counts as dropped.
    void setStreamIdleTimeout(int ms) { m_idleTimeoutMs = ms; }
    void setMaxBackoff(int ms) { m_maxBackoffMs = ms; }
    // How long a request (not the stream) may go without progress before it is given up.
    void setRequestTimeout(int ms) { m_requestTimeoutMs = ms; }
    // When the next reconnect is due, in ms from when it was scheduled (-1: none pending).
    int reconnectDelayMs() const { return m_reconnectTimer.isActive() ? m_reconnectTimer.interval() : -1; }

    // The result of one HTTP exchange, as the callbacks below see it.
    struct Response {
        int httpStatus = 0;  // 0 when no HTTP answer arrived
        QJsonDocument json;
        QByteArray body;
        QByteArray location; // Location header
        QByteArray contentType;
        QString error;       // a sentence for the user; empty on 2xx
        // A request that changes something was sent whole, but no answer came:
        // the server may have carried it out.
        bool outcomeUnknown = false;
        // 429: the server limits this client; its Retry-After in seconds (>= 1).
        int retryAfterSeconds = 0;
        // `Idempotent-Replayed: true`: the answer is about what an earlier request
        // with the same Idempotency-Key did; this one changed nothing.
        bool replayed = false;
    };

private:
    QNetworkRequest makeRequest(const QString &path, const QUrlQuery &query = {}) const;
    void send(const QByteArray &verb, const QString &path, const QUrlQuery &query,
              const QJsonDocument &body, QObject *context, std::function<void(Response)> done,
              const QByteArray &idempotencyKey = {});

    void beginLoad();
    void loadPage(const QString &cursor);
    // 401/403: the token will not do; stops the source (Failed) and returns true.
    bool failedForGood(const Response &r);
    // Reconnecting with a position: checks the last event shown first, then openStream().
    void resumeStream();
    void openStream();
    void onStreamReadyRead();
    void onStreamFinished(QNetworkReply *reply);
    bool acceptStream(QNetworkReply *reply);
    void markStreamLive();
    void notASagaServer(const QByteArray &contentType);
    void deliver(QVector<OrderEvent> events);
    // `notBeforeMs`: the server asked to wait at least this long (Retry-After).
    void connectionLost(const QString &why, int notBeforeMs = 0);
    void scheduleReconnect(int notBeforeMs = 0);
    QString describe(QNetworkReply *reply, int httpStatus, const QString &serverMessage = {}) const;
    void reloadReplaced(const QString &why);
    QString liveMessage();
    void rebase(const QUuid &orderId);
    void catchUp(const QUuid &orderId, const QString &why);
    void rebased(const QUuid &orderId, const std::optional<OrderProgress> &snapshot);

public:
    // GET /api/orders/{id}/events entries as OrderEvents (id = seq).
    static QVector<OrderEvent> eventsFromRawJson(const QUuid &orderId, const QJsonArray &raw, QString *error);

private:

    QUrl m_serverUrl;
    QByteArray m_authorization;
    QNetworkAccessManager *m_nam = nullptr; // child
    QPointer<QNetworkReply> m_stream;
    SseStreamParser m_parser;
    QTimer m_reconnectTimer;
    QTimer m_idleTimer;
    QVector<OrderEvent> m_heldBack;
    // Orders listed without their last seq (the list shape is the status shape):
    // their first live event triggers a full read of the order's events, and
    // events for them wait in m_rebasing until that snapshot is delivered. Also
    // an order with a stream event that could not be read (catchUp()): its later
    // events wait for its list entry.
    QSet<QUuid> m_unsequenced;
    // Every order listed or seen in an event: on a resumed stream, an event of
    // any other order must be that order's first (seq 1), or the stream is not
    // the continuation of what was shown.
    QSet<QUuid> m_known;
    bool m_resumed = false;   // the current stream was opened with Last-Event-ID
    QString m_reloadNote;     // why everything was reloaded; said once when live again
    QString m_notASagaServer; // the first such answer of this outage (list or stream alike)
    QHash<QUuid, QVector<OrderEvent>> m_rebasing;
    // Orders with a stream event that could not be read while a load was out: read
    // again (catchUp) once it is done, with why.
    QHash<QUuid, QString> m_catchUpAfterLoad;
    qint64 m_lastPosition = 0;
    // The event at m_lastPosition (what resumeStream() looks for on the server).
    struct LastShown {
        QUuid orderId;
        qint64 seq = 0;
        EventType type = EventType::SagaStarted;
        QDateTime timestamp;
    } m_lastShown;
    int m_loadedOrders = 0;
    int m_generation = 0; // bumps on stop/reload: answers of older ones are ignored
    int m_backoffMs = 500;
    int m_maxBackoffMs = 15000;
    int m_idleTimeoutMs = 45000;
    int m_requestTimeoutMs = 30000;
    int m_reconnects = 0;
    int m_skippedDuplicates = 0;
    bool m_running = false;
    bool m_loading = false;
    bool m_streamLive = false;
    bool m_fatal = false;
};
