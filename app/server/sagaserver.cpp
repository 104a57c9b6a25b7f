#include "sagaserver.h"

#include "connectionguard.h"
#include "enginehost.h"
#include "eventfeed.h"
#include "faultplan.h"
#include "guardedtcpserver.h"
#include "httptext.h"
#include "idempotentorder.h"
#include "orderhistory.h"
#include "retrypolicy.h"
#include "sagajson.h"
#include "sagalog.h"
#include "sagastore.h"
#include "sqlerror.h"
#include "sseencoder.h"
#include "statuscache.h"
#include "storepool.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QHttpServerRequest>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTimer>

#include <limits>

// The result of work done on a pool thread: a body to send or an error.
struct PoolOutcome {
    int status = 200;
    QByteArray body;
    std::optional<ApiError> error;

    static PoolOutcome json(const QJsonObject &object, int status = 200)
    {
        return PoolOutcome{status, QJsonDocument(object).toJson(QJsonDocument::Compact), std::nullopt};
    }
    static PoolOutcome json(const QJsonArray &array)
    {
        return PoolOutcome{200, QJsonDocument(array).toJson(QJsonDocument::Compact), std::nullopt};
    }
    static PoolOutcome fail(const ApiError &error) { return PoolOutcome{error.status(), {}, error}; }
};

namespace {

const QByteArray kJson = QByteArrayLiteral("application/json");
const QByteArray kEventStream = QByteArrayLiteral("text/event-stream");

using Outcome = PoolOutcome;

// A store refusal that the request cannot have caused (its input was checked
// before): said neutrally, the store's text only in the log.
ApiError internalError(const QString &logged)
{
    qCWarning(lcServer).noquote() << "the store refused a request:" << logged;
    return ApiError(500, QStringLiteral("INTERNAL_ERROR"),
                    QStringLiteral("The server could not complete this request; the problem is logged. Try again "
                                   "later or contact support."));
}

// A pool job that got no store connection.
StoreError noReadConnection()
{
    return StoreError{StoreError::Unavailable, QStringLiteral("no read connection")};
}

ApiError storeFailure(const StoreError &error)
{
    switch (error.kind) {
    case StoreError::NotFound:
        return ApiError::orderNotFound();
    case StoreError::Conflict: // a duplicate key: someone else wrote it first
        return ApiError(409, QStringLiteral("CONFLICT"),
                        QStringLiteral("The order changed while you asked. Try again."));
    case StoreError::Invalid: // a constraint, trigger or check refused what was written
        return internalError(error.message);
    default:
        return ApiError::unavailable();
    }
}

// Loads the order and checks the caller may see it: someone else's order
// answers exactly like an unknown id (404).
std::optional<ApiError> loadAccessible(SagaStore *store, const QUuid &orderId, const Principal &principal,
                                       OrderRecord *record = nullptr)
{
    if (!store)
        return ApiError::unavailable();
    auto loaded = store->loadOrder(orderId);
    if (!loaded.ok())
        return storeFailure(loaded.error);
    if (!principal.mayAccess(loaded.value.customerId))
        return ApiError::orderNotFound();
    if (record)
        *record = std::move(loaded.value);
    return std::nullopt;
}

RouteMatcher::Method methodOf(QHttpServerRequest::Method method)
{
    switch (method) {
    case QHttpServerRequest::Method::Get:
    case QHttpServerRequest::Method::Head: // answered like GET, without the body
        return RouteMatcher::Method::Get;
    case QHttpServerRequest::Method::Post:
        return RouteMatcher::Method::Post;
    case QHttpServerRequest::Method::Put:
        return RouteMatcher::Method::Put;
    default:
        return RouteMatcher::Method::Other;
    }
}

QByteArray methodName(QHttpServerRequest::Method method)
{
    switch (method) {
    case QHttpServerRequest::Method::Get: return "GET";
    case QHttpServerRequest::Method::Post: return "POST";
    case QHttpServerRequest::Method::Put: return "PUT";
    case QHttpServerRequest::Method::Delete: return "DELETE";
    case QHttpServerRequest::Method::Patch: return "PATCH";
    case QHttpServerRequest::Method::Head: return "HEAD";
    case QHttpServerRequest::Method::Options: return "OPTIONS";
    default: return "OTHER";
    }
}

// "Prefer: wait=N" (RFC 7240); other preferences are ignored. -1 when absent or
// not a number of seconds; a number too large for an int is the largest int (the
// caller caps it at the server's maximum, as it does any long wait).
int preferredWait(const QByteArray &prefer)
{
    const QList<QByteArray> parts = prefer.split(',');
    for (const QByteArray &raw : parts) {
        const QByteArray part = raw.trimmed().toLower();
        if (part.startsWith("wait=")) {
            const QByteArray digits = part.mid(5).trimmed();
            if (!isDecimalNumber(digits, 64))
                continue;
            bool ok = false;
            const int seconds = digits.toInt(&ok);
            return ok ? seconds : std::numeric_limits<int>::max();
        }
    }
    return -1;
}

QString statusUrl(const QUuid &orderId)
{
    return QStringLiteral("/api/orders/%1/status").arg(orderId.toString(QUuid::WithoutBraces));
}

// The new status an event gives when the order's progress is not at hand.
QString fallbackNewStatus(const OrderEvent &event)
{
    switch (event.type) {
    case EventType::SagaStarted:
        return toString(OverallStatus::Queued);
    case EventType::StepStarted:
        return toString(StepStatus::InProgress);
    case EventType::StepCompleted:
        return toString(StepStatus::Completed);
    case EventType::StepFailed:
        return toString(StepStatus::Failed);
    case EventType::CompensationStarted:
        return event.step ? toString(StepStatus::Compensating) : toString(OverallStatus::RollingBack);
    case EventType::StepCompensated:
        return toString(StepStatus::Compensated);
    case EventType::SagaCompleted:
        return toString(OverallStatus::Completed);
    case EventType::SagaFailed: {
        const bool incomplete = event.details.value(QLatin1String("compensationIncomplete")).toBool();
        const bool firstStep = event.details.value(QLatin1String("failedStep")).toString()
                               == stepDisplayName(SagaStep::Inventory);
        return toString(incomplete || firstStep ? OverallStatus::Failed : OverallStatus::RolledBack);
    }
    case EventType::Unrecognized:
        break; // what it did is not known here
    }
    return {};
}

bool isTerminalEvent(const OrderEvent &event)
{
    return event.type == EventType::SagaCompleted || event.type == EventType::SagaFailed;
}

QByteArray eventFrameData(const OrderEvent &event, const QString &newStatus)
{
    return QJsonDocument(SagaJson::statusEventToJson(event, newStatus)).toJson(QJsonDocument::Compact);
}

} // namespace

SagaServer::SagaServer(const ServerConfig &config, EngineHost *engine, QObject *parent)
    : QAbstractHttpServer(parent)
    , m_config(config)
    , m_engine(engine)
    , m_pool(std::make_unique<StorePool>(config.engine.database, config.readThreads))
    , m_cache(std::make_unique<StatusCache>(m_pool.get(), config.statusCacheEntries))
    , m_hub(std::make_unique<SseHub>(config.sseMaxBacklogBytes, config.heartbeatMs))
    , m_jwt(config.authKey, config.tokenLeewaySeconds)
    , m_limiter(RateLimiter::Limits{config.rateLimitPerSecond, config.rateLimitBurst, config.maxStreamsPerClient,
                                    config.streamRetryAfterSeconds})
    , m_startedAtMs(QDateTime::currentMSecsSinceEpoch())
{
    connect(m_engine, &EngineHost::eventsCommitted, this, &SagaServer::onEventsCommitted);
    connect(m_engine, &EngineHost::databaseAvailabilityChanged, this,
            [this](bool available, const QString &reason, StoreError::Outage outage) {
                if (!available && m_databaseAvailable)
                    m_databaseDownSinceMs = QDateTime::currentMSecsSinceEpoch();
                m_databaseAvailable = available;
                m_databaseReason = reason;
                m_databaseOutage = outage;
                if (available)
                    qCInfo(lcServer) << "database available again";
                else
                    qCWarning(lcServer) << "database unavailable:" << reason;
            });
    connect(m_hub.get(), &SseHub::subscriberGone, this, [this](const QUuid &orderId) {
        if (!orderId.isNull())
            m_cache->unpin(orderId);
    });
}

SagaServer::~SagaServer()
{
    m_feed.reset();
    m_hub->closeAll();
    m_pool.reset(); // waits for running reads before the cache they answer to goes away
}

bool SagaServer::listen(QString *error)
{
    if (m_listener || m_tcp)
        return true;
    ConnectionGuard::Limits limits;
    limits.maxBodyBytes = m_config.maxBodyBytes;
    limits.headTimeoutMs = m_config.requestHeadTimeoutMs;
    limits.bodyTimeoutMs = m_config.requestBodyTimeoutMs;
    limits.idleTimeoutMs = m_config.keepAliveTimeoutMs;
    auto tcp = std::make_unique<GuardedTcpServer>(limits);
    if (!tcp->listen(m_config.listenAddress, m_config.listenPort)) {
        if (error)
            *error = QStringLiteral("cannot listen on %1:%2: %3")
                         .arg(m_config.listenHost)
                         .arg(m_config.listenPort)
                         .arg(tcp->errorString());
        return false;
    }
    tcp->setMaxPendingConnections(1024);
    tcp->pauseAccepting(); // clients wait in the kernel's queue until start()
    m_listener = std::move(tcp);
    return true;
}

quint16 SagaServer::start(QString *error)
{
    if (!listen(error))
        return 0;

    // The all-orders stream starts after the last committed position; on
    // PostgreSQL the event feed brings every later event of every process.
    qint64 anchor = -1;
    {
        SagaStore store(m_config.engine.database, QStringLiteral("saga_server_anchor"));
        StoreError storeError = store.open();
        if (!storeError)
            anchor = store.lastPosition(&storeError);
        if (storeError) {
            anchor = -1;
            qCWarning(lcServer).noquote() << "cannot read the last event position (the all-orders stream starts"
                                          << "at the first event seen):" << storeError.message;
        }
    }
    if (anchor >= 0)
        m_sequencer.anchor(anchor);
    // The event feed brings every later event of every process on the database:
    // other saga-servers or consoles on the same PostgreSQL database or SQLite file
    // take positions of their own, which the all-orders stream waits for in order,
    // and drive orders this server's status cache and streams follow.
    m_feed = std::make_unique<EventFeed>(m_config.engine.database, m_config.feedCheckMs, m_config.feedChunkEvents);
    connect(m_feed.get(), &EventFeed::eventsArrived, this,
            [this](const QVector<OrderEvent> &events) { processEvents(events, false); });
    m_feed->start(anchor);
    m_port = m_listener->serverPort();
    m_tcp = m_listener.release(); // bind() makes it our child
    bind(m_tcp);
    m_tcp->resumeAccepting();
    return m_port;
}

void SagaServer::beginShutdown()
{
    if (m_shuttingDown)
        return;
    m_shuttingDown = true;
    m_listener.reset(); // bound by listen(), never served
    if (m_tcp)
        m_tcp->close();
    const QList<quint64> keys = m_waiters.keys();
    for (const quint64 key : keys)
        answerWaiter(key, false);
    m_hub->closeAll();
    m_feed.reset(); // no more events from other processes
}

// ---------------------------------------------------------------- responses

void SagaServer::reply(const ApiRequest &r, int status, const QByteArray &contentType,
                       const QByteArray &body, const HttpReply::Headers &extra)
{
    m_metrics.countRequest(status);
    QTcpSocket *socket = r.socket.data();
    if (!socket || socket->state() != QAbstractSocket::ConnectedState) {
        qCDebug(lcServer).noquote() << "trace" << r.trace.traceId() << r.method << r.path << status
                                    << "(client gone)";
        return;
    }
    const bool close = r.closeAfter || m_shuttingDown;
    QByteArray bytes = HttpReply::build(status, contentType, body, r.trace.traceparent(), extra, close);
    if (r.head) // the headers a GET would get, Content-Length included; no body
        bytes.truncate(bytes.indexOf("\r\n\r\n") + 4);
    ConnectionGuard *guard = r.responseNumber != 0 ? ConnectionGuard::of(socket) : nullptr;
    if (guard) {
        guard->respond(r.responseNumber, bytes, close);
    } else {
        socket->write(bytes);
        if (close)
            socket->disconnectFromHost();
    }
    if (status >= 500)
        qCWarning(lcServer).noquote() << "trace" << r.trace.traceId() << r.method << r.path << status;
    else
        qCDebug(lcServer).noquote() << "trace" << r.trace.traceId() << r.method << r.path << status
                                    << r.timer.nsecsElapsed() / 1000 << "us";
}

void SagaServer::replyJson(const ApiRequest &r, int status, const QJsonObject &json,
                           const HttpReply::Headers &extra)
{
    reply(r, status, kJson, QJsonDocument(json).toJson(QJsonDocument::Compact), extra);
}

void SagaServer::replyError(const ApiRequest &r, const ApiError &error)
{
    HttpReply::Headers extra;
    if (error.status() == 405)
        extra.append(qMakePair(QByteArrayLiteral("Allow"), error.details().value(QLatin1String("allow")).toString().toLatin1()));
    if (error.status() == 401)
        extra.append(qMakePair(QByteArrayLiteral("WWW-Authenticate"), QByteArrayLiteral("Bearer")));
    if (error.status() == 503)
        extra.append(qMakePair(QByteArrayLiteral("Retry-After"), QByteArrayLiteral("5")));
    if (error.status() == 429)
        extra.append(qMakePair(QByteArrayLiteral("Retry-After"),
                               QByteArray::number(error.details().value(QLatin1String("retryAfterSeconds")).toInt(1))));
    // (A flood of 429s is counted in the metrics, not logged one line each.)
    if (error.status() == 429)
        qCDebug(lcServer).noquote() << "trace" << r.trace.traceId() << r.method << r.path << 429
                                    << error.details().value(QLatin1String("limit")).toString();
    else if (error.status() >= 400 && error.status() < 500 && error.status() != 404)
        qCInfo(lcServer).noquote() << "trace" << r.trace.traceId() << r.method << r.path << error.status()
                                   << error.error();
    reply(r, error.status(), kJson, error.toBody(), extra);
}

// ---------------------------------------------------------------- pipeline

bool SagaServer::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket)
{
    ApiRequest r;
    r.timer.start();
    r.socket = socket;
    ConnectionGuard *guard = ConnectionGuard::of(socket);
    if (guard)
        r.responseNumber = guard->requestDispatched();
    r.trace = TraceContext::continueOrStart(request.value(QByteArrayLiteral("traceparent")));
    const QUrl url = request.url();
    // Routed as sent, still percent-encoded: an encoded slash (%2F) is part of a
    // segment, never a separator, so "/api/simulator%2Ffaults" is no route (a
    // proxy's rules for /api/simulator/ never saw it as one either).
    r.path = url.path(QUrl::FullyEncoded);
    r.method = methodName(request.method());
    r.head = request.method() == QHttpServerRequest::Method::Head;
    r.closeAfter = request.value(QByteArrayLiteral("connection")).toLower() == "close"
                   || (guard && guard->closesAfter(r.responseNumber));
    if (!r.path.contains(QLatin1String("%2F"), Qt::CaseInsensitive))
        r.route = RouteMatcher::match(methodOf(request.method()), r.path);

    if (r.route.route == RouteMatcher::Route::None) {
        replyError(r, ApiError::notFound(QStringLiteral("There is no resource at %1.").arg(r.path.left(200))));
        return true;
    }
    if (!r.route.methodAllowed) {
        replyError(r, ApiError::methodNotAllowed(r.route.allow));
        return true;
    }
    if (url.hasQuery())
        r.query = QUrlQuery(url);

    if (r.route.route != RouteMatcher::Route::Health) {
        if (auto error = authenticate(request, r)) {
            // Requests without a valid token count against the peer address, so
            // guessing tokens is limited like placing orders.
            if (auto limited = admitUnauthenticated(r))
                error = limited;
            replyError(r, *error);
            return true;
        }
        if (auto limited = admit(r)) {
            replyError(r, *limited);
            return true;
        }
    }
    if (!r.route.idField.isEmpty() && !r.route.idValid) {
        replyError(r, ApiError::badId(r.route.idField, r.route.idText));
        return true;
    }
    if (request.method() == QHttpServerRequest::Method::Post
        || request.method() == QHttpServerRequest::Method::Put) {
        r.body = request.body();
        if (r.body.size() > m_config.maxBodyBytes) {
            r.closeAfter = true;
            replyError(r, ApiError::payloadTooLarge(m_config.maxBodyBytes));
            return true;
        }
        r.contentType = request.value(QByteArrayLiteral("content-type"));
        r.prefer = request.value(QByteArrayLiteral("prefer"));
        if (r.route.route == RouteMatcher::Route::CreateOrder) {
            const QList<QPair<QByteArray, QByteArray>> headers = request.headers();
            for (const auto &header : headers) {
                if (header.first.compare("idempotency-key", Qt::CaseInsensitive) != 0)
                    continue;
                if (r.idempotencyKey) { // sent twice: which one was meant?
                    r.idempotencyKey = QByteArray();
                    break;
                }
                r.idempotencyKey = header.second;
            }
        }
    }
    r.lastEventId = request.value(QByteArrayLiteral("last-event-id")).trimmed();
    dispatch(r);
    return true;
}

void SagaServer::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket)
{
    ApiRequest r;
    r.timer.start();
    r.socket = socket;
    if (ConnectionGuard *guard = ConnectionGuard::of(socket))
        r.responseNumber = guard->requestDispatched();
    r.trace = TraceContext::continueOrStart(request.value(QByteArrayLiteral("traceparent")));
    r.path = request.url().path(QUrl::FullyEncoded);
    replyError(r, ApiError::notFound(QStringLiteral("There is no resource at this path.")));
}

std::optional<ApiError> SagaServer::authenticate(const QHttpServerRequest &request, ApiRequest &r)
{
    QByteArray token;
    const QByteArray authorization = request.value(QByteArrayLiteral("authorization"));
    if (!authorization.isEmpty()) {
        // (The value arrives trimmed: "Bearer " with no token is "Bearer".)
        const bool bearer = qstrnicmp(authorization.constData(), "bearer", 6) == 0
            && (authorization.size() == 6 || authorization.at(6) == ' ');
        if (!bearer)
            return ApiError::unauthorized(QStringLiteral("use the Bearer scheme"));
        token = authorization.mid(6).trimmed();
    } else if (r.route.route == RouteMatcher::Route::StatusStream
               || r.route.route == RouteMatcher::Route::AllOrdersStream) {
        // A browser EventSource cannot set headers.
        token = r.query.queryItemValue(QStringLiteral("access_token"), QUrl::FullyDecoded).toLatin1();
    }
    if (token.isEmpty())
        return ApiError::unauthorized(QStringLiteral("no token was sent"));
    const JwtVerifier::Result verified = m_jwt.verify(token);
    if (!verified.principal)
        return ApiError::unauthorized(verified.error);
    r.principal = *verified.principal;
    return std::nullopt;
}

std::optional<ApiError> SagaServer::admitUnauthenticated(const ApiRequest &r)
{
    if (!m_limiter.limitsRequests())
        return std::nullopt;
    QTcpSocket *socket = r.socket.data();
    const QByteArray client = "peer:" + (socket ? socket->peerAddress().toString().toLatin1() : QByteArray());
    const int wait = m_limiter.take(client);
    if (wait == 0)
        return std::nullopt;
    m_metrics.countRateLimited(ServerMetrics::RateLimit::Unauthenticated);
    return ApiError::rateLimited(QStringLiteral("unauthenticated"),
                                 QStringLiteral("Too many requests without a valid token from this address. Send a valid "
                                                "bearer token; try again in %1 s.")
                                     .arg(wait),
                                 wait);
}

std::optional<ApiError> SagaServer::admit(ApiRequest &r)
{
    using Route = RouteMatcher::Route;
    const Route route = r.route.route;
    const bool work = route == Route::CreateOrder || route == Route::Retry || route == Route::PutFaults;
    const bool stream = route == Route::StatusStream || route == Route::AllOrdersStream;
    if (!work && !stream)
        return std::nullopt; // reads are never limited
    const QByteArray client = "sub:" + r.principal.subject.toByteArray(QUuid::WithoutBraces);
    if (work) {
        const int wait = m_limiter.take(client);
        if (wait == 0)
            return std::nullopt;
        m_metrics.countRateLimited(ServerMetrics::RateLimit::Requests);
        const RateLimiter::Limits &limits = m_limiter.limits();
        return ApiError::rateLimited(QStringLiteral("requests"),
                                     QStringLiteral("Too many new orders, retries and fault changes from this client "
                                                    "(at most %1 per second, %2 in a burst): nothing was done; try "
                                                    "again in %3 s.")
                                         .arg(QString::number(limits.perSecond, 'g', 6),
                                              QString::number(limits.burst, 'g', 6))
                                         .arg(wait),
                                     wait);
    }
    int wait = 0;
    if (m_limiter.openStream(client, &r.streamSlot, &wait))
        return std::nullopt;
    m_metrics.countRateLimited(ServerMetrics::RateLimit::Streams);
    return ApiError::rateLimited(QStringLiteral("streams"),
                                 QStringLiteral("This client already holds the most event streams allowed open at "
                                                "once (%1). Close one; try again in %2 s.")
                                     .arg(m_limiter.limits().maxStreams)
                                     .arg(wait),
                                 wait);
}

std::optional<ApiError> SagaServer::checkJsonBody(const ApiRequest &r, bool required) const
{
    if (!required && r.body.trimmed().isEmpty())
        return std::nullopt;
    const QByteArray type = r.contentType.split(';').value(0).trimmed().toLower();
    if (type != "application/json" && !(type.startsWith("application/") && type.endsWith("+json")))
        return ApiError::unsupportedMediaType(r.contentType);
    const QList<QByteArray> params = r.contentType.split(';');
    for (qsizetype i = 1; i < params.size(); ++i) {
        const QByteArray param = params[i].trimmed().toLower();
        if (param.startsWith("charset=") && param != "charset=utf-8" && param != "charset=\"utf-8\"")
            return ApiError::unsupportedMediaType(r.contentType);
    }
    return std::nullopt;
}

void SagaServer::dispatch(ApiRequest &r)
{
    using Route = RouteMatcher::Route;
    const bool supportOnly = r.route.route == Route::ListOrders || r.route.route == Route::AllOrdersStream
                             || r.route.route == Route::GetFaults || r.route.route == Route::PutFaults
                             || r.route.route == Route::Metrics;
    if (supportOnly && !r.principal.support) {
        replyError(r, ApiError::forbidden(QStringLiteral("This resource is for support agents (role SUPPORT).")));
        return;
    }
    switch (r.route.route) {
    case Route::CreateOrder: createOrder(r); break;
    case Route::ListOrders: listOrders(r); break;
    case Route::AllOrdersStream: allOrdersStream(r); break;
    case Route::CustomerOrders: customerOrders(r); break;
    case Route::Order: getOrder(r); break;
    case Route::Status: getStatus(r); break;
    case Route::StatusStream: statusStream(r); break;
    case Route::History: getHistory(r); break;
    case Route::Events: getEvents(r); break;
    case Route::RetryEligibility: retryEligibility(r); break;
    case Route::Retry: retryOrder(r); break;
    case Route::RetryHistory: retryHistory(r); break;
    case Route::GetFaults: getFaults(r); break;
    case Route::PutFaults: putFaults(r); break;
    case Route::Health: health(r); break;
    case Route::Metrics: metricsRoute(r); break;
    case Route::None: break;
    }
}

// ---------------------------------------------------------------- orders

void SagaServer::createOrder(const ApiRequest &r)
{
    if (auto error = checkJsonBody(r, true)) {
        replyError(r, *error);
        return;
    }
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(r.body, &parseError);
    if (parseError.error != QJsonParseError::NoError || !doc.isObject()) {
        replyError(r, ApiError::invalidJson(parseError.error != QJsonParseError::NoError
                                                ? parseError.errorString()
                                                : QStringLiteral("expected an object")));
        return;
    }
    Parsed<OrderRequest> parsed = SagaJson::orderRequestFromJson(doc.object());
    if (!parsed.ok()) {
        replyError(r, ApiError::badField(parsed.field, parsed.error));
        return;
    }
    OrderRequest order = std::move(*parsed.value);
    if (!r.principal.support && order.customerId != r.principal.subject) {
        replyError(r, ApiError(403, QStringLiteral("FORBIDDEN"),
                               QStringLiteral("customerId must be your own customer id (the token subject)."),
                               QJsonObject{{QStringLiteral("field"), QStringLiteral("customerId")}}));
        return;
    }
    if (m_shuttingDown) {
        replyError(r, ApiError(503, QStringLiteral("SHUTTING_DOWN"),
                               QStringLiteral("The server is shutting down. Send the order again in a moment.")));
        return;
    }
    if (r.idempotencyKey) {
        if (!IdempotentOrder::isValidKey(*r.idempotencyKey)) {
            replyError(r, ApiError(400, QStringLiteral("INVALID_HEADER"),
                                   QStringLiteral("Idempotency-Key must be sent once, as 1 to 255 printable ASCII "
                                                  "characters (a UUID, say)."),
                                   QJsonObject{{QStringLiteral("header"), QStringLiteral("Idempotency-Key")}}));
            return;
        }
        order.idempotencyKey = QString::fromLatin1(*r.idempotencyKey);
    }
    order.traceId = QString::fromLatin1(r.trace.traceId());
    const int wait = qMin(preferredWait(r.prefer), m_config.maxWaitSeconds);
    // The engine answers once the order's first commit is decided; a commit cut off
    // with the database is decided only when the database is back. The client is not
    // kept waiting for that: after submitAnswerMs it hears that the order may have
    // been placed, and how to find out (the engine's later answer is logged).
    auto answered = std::make_shared<bool>(false);
    const bool keyed = r.idempotencyKey.has_value();
    QTimer::singleShot(m_config.submitAnswerMs, this, [this, r, answered, keyed] {
        if (*answered)
            return;
        *answered = true;
        qCWarning(lcServer).noquote() << "trace" << r.trace.traceId() << "order not answered by the engine in"
                                      << m_config.submitAnswerMs << "ms; told the client it may have been placed";
        replyError(r, ApiError(503, QStringLiteral("ORDER_OUTCOME_UNKNOWN"),
                               keyed ? QStringLiteral("The database went away while your order was being recorded, so "
                                                      "it may have been placed. Send it again with the same "
                                                      "Idempotency-Key to find out: it is not placed twice.")
                                     : QStringLiteral("The database went away while your order was being recorded, so "
                                                      "it may have been placed. Look for it in your orders before "
                                                      "sending it again (an Idempotency-Key makes sending again safe)."),
                               QJsonObject{{QStringLiteral("mayHaveBeenPlaced"), true}}));
    });
    m_engine->submitOrder(order, this, [this, r, wait, answered](SubmitResult result) {
        if (*answered) {
            qCInfo(lcServer).noquote() << "trace" << r.trace.traceId() << "order"
                                       << (result.error ? QStringLiteral("not recorded after all")
                                                        : QStringLiteral("recorded after all: ") + result.orderNumber)
                                       << "(its client was told it may have been placed)";
            return;
        }
        *answered = true;
        if (result.keyReused) {
            replyError(r, ApiError(422, QStringLiteral("IDEMPOTENCY_KEY_REUSED"),
                                   QStringLiteral("This Idempotency-Key was used for another order (other items, "
                                                  "payment method or address). Send a new order with a new key."),
                                   QJsonObject{{QStringLiteral("header"), QStringLiteral("Idempotency-Key")},
                                               {QStringLiteral("orderId"), result.orderId.toString(QUuid::WithoutBraces)}}));
            return;
        }
        if (result.error.kind == StoreError::Invalid) {
            replyError(r, ApiError(400, QStringLiteral("INVALID_FIELD"),
                                   QStringLiteral("The order was refused: check its fields.")));
            return;
        }
        if (result.error.kind == StoreError::Conflict) {
            // The new order's first commit was refused (the engine reports every
            // refusal so): nothing the client can change, and nothing changed under it.
            replyError(r, internalError(QStringLiteral("order not recorded: ") + result.error.message));
            return;
        }
        if (result.error) {
            replyError(r, result.error.kind == StoreError::Unavailable ? writeRefused(result.error.outage)
                                                                       : storeFailure(result.error));
            return;
        }
        qCInfo(lcServer).noquote() << "trace" << r.trace.traceId() << "order" << result.orderNumber
                                   << result.orderId.toString(QUuid::WithoutBraces)
                                   << (result.replayed ? "placed before with this Idempotency-Key" : "accepted");
        if (wait > 0 && !m_shuttingDown) {
            const quint64 key = m_nextWaiter++;
            m_waiters.insert(key, Waiter{r, result.orderId, result.orderNumber, wait, result.replayed});
            m_waitersByOrder.insert(result.orderId, key);
            m_cache->ensure(result.orderId, [this, orderId = result.orderId](const StatusCache::Entry *entry, StoreError::Kind) {
                if (entry) {
                    m_cache->pin(orderId);
                    resolveWaiters(orderId);
                }
            });
            QTimer::singleShot(wait * 1000, this, [this, key] { answerWaiter(key, false); });
            return;
        }
        if (result.replayed) {
            // What the first request would be answered now: the same order, as it is.
            m_cache->ensure(result.orderId, [this, r, result](const StatusCache::Entry *, StoreError::Kind) {
                QJsonObject body = orderOutcomeJson(result.orderId, result.orderNumber, r.trace.traceId());
                if (!body.contains(QLatin1String("status")))
                    body.insert(QStringLiteral("status"), toString(OrderRecordStatus::Pending));
                replyJson(r, 202, body, {{"Location", statusUrl(result.orderId).toLatin1()}, {"Idempotent-Replayed", "true"}});
            });
            return;
        }
        QJsonObject body{{QStringLiteral("orderId"), result.orderId.toString(QUuid::WithoutBraces)},
                         {QStringLiteral("orderNumber"), result.orderNumber},
                         {QStringLiteral("status"), toString(OrderRecordStatus::Pending)},
                         {QStringLiteral("statusUrl"), statusUrl(result.orderId)},
                         {QStringLiteral("traceId"), QString::fromLatin1(r.trace.traceId())}};
        replyJson(r, 202, body, {{"Location", statusUrl(result.orderId).toLatin1()}});
    });
}

QJsonObject SagaServer::orderOutcomeJson(const QUuid &orderId, const QString &orderNumber,
                                         const QByteArray &traceId) const
{
    QJsonObject body{{QStringLiteral("orderId"), orderId.toString(QUuid::WithoutBraces)},
                     {QStringLiteral("orderNumber"), orderNumber},
                     {QStringLiteral("statusUrl"), statusUrl(orderId)},
                     {QStringLiteral("traceId"), QString::fromLatin1(traceId)}};
    const StatusCache::Entry *entry = m_cache->find(orderId);
    if (!entry)
        return body;
    const OrderProgress &p = entry->progress;
    if (!p.orderNumber.isEmpty())
        body.insert(QStringLiteral("orderNumber"), p.orderNumber);
    body.insert(QStringLiteral("status"), toString(recordStatusFor(p.overallStatus)));
    body.insert(QStringLiteral("overallStatus"), toString(p.overallStatus));
    if (p.overallStatus == OverallStatus::Completed) {
        const QJsonObject &d = entry->terminalDetails;
        body.insert(QStringLiteral("confirmationNumber"),
                    d.value(QLatin1String("confirmationNumber")).toString(p.confirmationNumber));
        body.insert(QStringLiteral("totalChargedInCents"),
                    d.contains(QLatin1String("totalChargedInCents"))
                        ? d.value(QLatin1String("totalChargedInCents"))
                        : QJsonValue(double(p.totalChargedInCents)));
        body.insert(QStringLiteral("estimatedDelivery"), d.value(QLatin1String("estimatedDelivery")));
    } else if (p.isTerminal()) {
        // As the retry policy decides: an order whose compensation is incomplete, or
        // whose retries are used up, is not retryable whatever its failure's code says.
        RetryFacts facts;
        facts.latestStatus = p.overallStatus;
        facts.latestAttempt = qMax(1, p.attemptNumber);
        facts.failureCode = p.failure.code;
        facts.compensationIncomplete = p.compensationIncomplete;
        facts.maxRetries = m_config.engine.maxRetries;
        facts.now = QDateTime::currentDateTimeUtc();
        const FailureInfo info = RetryPolicy::failureAdvice(facts);
        QJsonObject failure{{QStringLiteral("code"), p.failure.code},
                            {QStringLiteral("message"), p.failure.message},
                            {QStringLiteral("failedStep"), p.failedStep ? QJsonValue(stepDisplayName(*p.failedStep))
                                                                        : QJsonValue()},
                            {QStringLiteral("retryable"), info.retryable},
                            {QStringLiteral("suggestedAction"), info.suggestedAction},
                            {QStringLiteral("compensationIncomplete"), p.compensationIncomplete}};
        body.insert(QStringLiteral("failure"), failure);
    }
    return body;
}

void SagaServer::resolveWaiters(const QUuid &orderId)
{
    const StatusCache::Entry *entry = m_cache->find(orderId);
    if (!entry || !entry->progress.isTerminal())
        return;
    const QList<quint64> keys = m_waitersByOrder.values(orderId);
    for (const quint64 key : keys)
        answerWaiter(key, true);
}

void SagaServer::answerWaiter(quint64 key, bool ended)
{
    const auto it = m_waiters.find(key);
    if (it == m_waiters.end())
        return;
    const Waiter waiter = it.value();
    m_waiters.erase(it);
    m_waitersByOrder.remove(waiter.orderId, key);
    m_cache->unpin(waiter.orderId);
    const QByteArray location = statusUrl(waiter.orderId).toLatin1();
    const QByteArray applied = "wait=" + QByteArray::number(waiter.waitSeconds);
    QJsonObject body = orderOutcomeJson(waiter.orderId, waiter.orderNumber, waiter.request.trace.traceId());
    HttpReply::Headers headers{{"Location", location}, {"Preference-Applied", applied}};
    if (waiter.replayed)
        headers.append(qMakePair(QByteArrayLiteral("Idempotent-Replayed"), QByteArrayLiteral("true")));
    if (ended) {
        replyJson(waiter.request, 201, body, headers);
    } else {
        if (!body.contains(QLatin1String("status")))
            body.insert(QStringLiteral("status"), toString(OrderRecordStatus::Processing));
        replyJson(waiter.request, 202, body, headers);
    }
}

// It used to be "unavailable right now, try again in a few seconds" whatever the
// outage, also for a read-only file that waits for someone to make it writable.
// The engine's sentence holds no driver words (paths, hosts, SQL); the log has them.
ApiError SagaServer::writeRefused(StoreError::Outage outage) const
{
    if (outage == StoreError::Outage::Unknown && !m_databaseAvailable)
        outage = m_databaseOutage; // the engine's refusal did not say; its outage does
    const QString why = m_databaseAvailable || m_databaseReason.isEmpty()
        ? QStringLiteral("The database is unavailable right now.")
        : m_databaseReason;
    QJsonObject details;
    if (outage != StoreError::Outage::Unknown)
        details.insert(QStringLiteral("cause"), outageCode(outage));
    return ApiError(503, QStringLiteral("SERVICE_UNAVAILABLE"),
                    why + QStringLiteral(" Nothing was recorded; send it again later."), details);
}

void SagaServer::answerFromPool(const ApiRequest &r, std::function<PoolOutcome(SagaStore *)> read)
{
    m_pool->run<Outcome>(this, std::move(read), [this, r](Outcome outcome) {
        if (outcome.error)
            replyError(r, *outcome.error);
        else
            reply(r, outcome.status, kJson, outcome.body);
    });
}

void SagaServer::listOrders(const ApiRequest &r)
{
    OrderListFilter filter;
    const QString status = r.query.queryItemValue(QStringLiteral("status"), QUrl::FullyDecoded);
    if (!status.isEmpty()) {
        filter.status = overallStatusFromString(status);
        if (!filter.status) {
            replyError(r, ApiError::badField(QStringLiteral("status"),
                                             QStringLiteral("must be one of QUEUED, IN_PROGRESS, COMPLETED, "
                                                            "FAILED, ROLLING_BACK, ROLLED_BACK")));
            return;
        }
    }
    filter.query = r.query.queryItemValue(QStringLiteral("q"), QUrl::FullyDecoded).left(200);
    if (const char *problem = SagaJson::textProblem(filter.query)) {
        replyError(r, ApiError::badField(QStringLiteral("q"), QString::fromLatin1(problem)));
        return;
    }
    if (r.query.hasQueryItem(QStringLiteral("limit"))) {
        bool ok = false;
        filter.limit = r.query.queryItemValue(QStringLiteral("limit")).toInt(&ok);
        if (!ok || filter.limit < 1 || filter.limit > 1000) {
            replyError(r, ApiError::badField(QStringLiteral("limit"), QStringLiteral("must be a number from 1 to 1000")));
            return;
        }
    }
    filter.after = r.query.queryItemValue(QStringLiteral("after"), QUrl::FullyDecoded);
    answerFromPool(r, [filter](SagaStore *store) {
        if (!store)
            return Outcome::fail(ApiError::unavailable());
        auto page = store->listOrders(filter);
        if (page.error.kind == StoreError::Invalid && !filter.after.isEmpty())
            return Outcome::fail(ApiError::badField(QStringLiteral("after"), QStringLiteral("is not a cursor from a previous page")));
        if (!page.ok())
            return Outcome::fail(storeFailure(page.error));
        QJsonArray orders;
        for (const OrderProgress &progress : std::as_const(page.value.orders))
            orders.append(SagaJson::orderListItemToJson(progress));
        QJsonObject body{{QStringLiteral("orders"), orders},
                         {QStringLiteral("count"), orders.size()},
                         {QStringLiteral("nextCursor"),
                          page.value.nextCursor.isEmpty() ? QJsonValue() : QJsonValue(page.value.nextCursor)}};
        return Outcome::json(body);
    });
}

void SagaServer::customerOrders(const ApiRequest &r)
{
    if (!r.principal.mayAccess(r.route.id)) {
        replyError(r, ApiError::notFound(QStringLiteral("No such customer. Check the customer id.")));
        return;
    }
    const QUuid customerId = r.route.id;
    answerFromPool(r, [customerId](SagaStore *store) {
        if (!store)
            return Outcome::fail(ApiError::unavailable());
        auto orders = store->ordersForCustomer(customerId);
        if (!orders.ok() && orders.error.kind != StoreError::NotFound)
            return Outcome::fail(storeFailure(orders.error));
        QJsonArray list;
        for (const OrderRecord &order : std::as_const(orders.value))
            list.append(SagaJson::orderRecordToJson(order));
        return Outcome::json(list);
    });
}

void SagaServer::getOrder(const ApiRequest &r)
{
    const QUuid orderId = r.route.id;
    const Principal principal = r.principal;
    answerFromPool(r, [orderId, principal](SagaStore *store) {
        OrderRecord record;
        if (auto error = loadAccessible(store, orderId, principal, &record))
            return Outcome::fail(*error);
        return Outcome::json(SagaJson::orderRecordToJson(record));
    });
}

void SagaServer::withAccessibleOrder(const ApiRequest &r, std::function<void(const ApiRequest &)> next)
{
    const QUuid orderId = r.route.id;
    m_cache->ensure(orderId, [this, r, next = std::move(next)](const StatusCache::Entry *entry,
                                                               StoreError::Kind error) {
        if (!entry) {
            replyError(r, error == StoreError::NotFound || error == StoreError::None
                              ? ApiError::orderNotFound()
                              : ApiError::unavailable());
            return;
        }
        if (!r.principal.mayAccess(entry->progress.customerId)) {
            replyError(r, ApiError::orderNotFound());
            return;
        }
        next(r);
    });
}

void SagaServer::getStatus(const ApiRequest &r)
{
    // Hot path: a cached order answers without leaving this thread.
    if (const StatusCache::Entry *entry = m_cache->find(r.route.id)) {
        if (!r.principal.mayAccess(entry->progress.customerId)) {
            replyError(r, ApiError::orderNotFound());
            return;
        }
        reply(r, 200, kJson, m_cache->statusBody(*entry, r.trace.traceId()));
        return;
    }
    withAccessibleOrder(r, [this](const ApiRequest &req) {
        if (const StatusCache::Entry *entry = m_cache->find(req.route.id))
            reply(req, 200, kJson, m_cache->statusBody(*entry, req.trace.traceId()));
        else
            replyError(req, ApiError::orderNotFound());
    });
}

void SagaServer::getHistory(const ApiRequest &r)
{
    const QUuid orderId = r.route.id;
    const Principal principal = r.principal;
    answerFromPool(r, [orderId, principal](SagaStore *store) {
        if (auto error = loadAccessible(store, orderId, principal))
            return Outcome::fail(*error);
        auto events = store->loadEvents(orderId, 0);
        if (!events.ok())
            return Outcome::fail(storeFailure(events.error));
        const OrderHistory history = HistoryBuilder::build(events.value);
        QJsonObject json = SagaJson::historyToJson(history);
        if (!json.contains(QLatin1String("executionCount")))
            json.insert(QStringLiteral("executionCount"), history.executionCount());
        return Outcome::json(json);
    });
}

void SagaServer::getEvents(const ApiRequest &r)
{
    const QUuid orderId = r.route.id;
    const Principal principal = r.principal;
    answerFromPool(r, [orderId, principal](SagaStore *store) {
        if (auto error = loadAccessible(store, orderId, principal))
            return Outcome::fail(*error);
        auto events = store->loadEvents(orderId, 0);
        if (!events.ok())
            return Outcome::fail(storeFailure(events.error));
        QJsonArray list;
        for (const OrderEvent &event : std::as_const(events.value))
            list.append(SagaJson::rawEventToJson(event));
        return Outcome::json(list);
    });
}

void SagaServer::retryEligibility(const ApiRequest &r)
{
    withAccessibleOrder(r, [this](const ApiRequest &req) {
        m_engine->retryEligibility(req.route.id, this, [this, req](RetryEligibility eligibility, StoreError error) {
            if (error) {
                replyError(req, storeFailure(error));
                return;
            }
            replyJson(req, 200, SagaJson::eligibilityToJson(eligibility));
        });
    });
}

void SagaServer::retryOrder(const ApiRequest &r)
{
    RetryRequest retry;
    retry.orderId = r.route.id;
    if (!r.body.trimmed().isEmpty()) {
        if (auto error = checkJsonBody(r, false)) {
            replyError(r, *error);
            return;
        }
        QJsonParseError parseError;
        const QJsonDocument doc = QJsonDocument::fromJson(r.body, &parseError);
        if (parseError.error != QJsonParseError::NoError || !doc.isObject()) {
            replyError(r, ApiError::invalidJson(parseError.error != QJsonParseError::NoError
                                                    ? parseError.errorString()
                                                    : QStringLiteral("expected an object")));
            return;
        }
        Parsed<RetryRequest> parsed = SagaJson::retryRequestFromJson(doc.object());
        if (!parsed.ok()) {
            replyError(r, ApiError::badField(parsed.field, parsed.error));
            return;
        }
        retry = std::move(*parsed.value);
        retry.orderId = r.route.id;
    }
    retry.traceId = QString::fromLatin1(r.trace.traceId());
    if (m_shuttingDown) {
        replyError(r, ApiError(503, QStringLiteral("SHUTTING_DOWN"),
                               QStringLiteral("The server is shutting down. Retry the order in a moment.")));
        return;
    }
    withAccessibleOrder(r, [this, retry](const ApiRequest &req) {
        m_engine->retryOrder(retry, this, [this, req](RetryDecision decision) {
            const QString id = req.route.id.toString(QUuid::WithoutBraces);
            QJsonObject details{{QStringLiteral("reason"), decision.reason}};
            if (decision.nextRetryAvailableAt.isValid())
                details.insert(QStringLiteral("nextRetryAvailableAt"),
                               SagaJson::formatTimestamp(decision.nextRetryAvailableAt));
            auto conflict = [&](const char *code, const QString &fallback) {
                return ApiError(409, QString::fromLatin1(code),
                                decision.reason.isEmpty() ? fallback : decision.reason, details);
            };
            switch (decision.code) {
            case RetryDecision::Accepted: {
                qCInfo(lcServer).noquote() << "trace" << req.trace.traceId() << "retry" << decision.attemptNumber
                                           << "of order" << id << "accepted";
                QJsonObject body{{QStringLiteral("orderId"), id},
                                 {QStringLiteral("attemptNumber"), decision.attemptNumber},
                                 {QStringLiteral("executionId"), decision.executionId},
                                 {QStringLiteral("status"), toString(OrderRecordStatus::Processing)},
                                 {QStringLiteral("statusUrl"), statusUrl(req.route.id)},
                                 {QStringLiteral("traceId"), QString::fromLatin1(req.trace.traceId())}};
                replyJson(req, 202, body, {{"Location", statusUrl(req.route.id).toLatin1()}});
                return;
            }
            case RetryDecision::NotFound:
                replyError(req, ApiError::orderNotFound());
                return;
            case RetryDecision::NotFailed:
                replyError(req, conflict("ORDER_NOT_FAILED", QStringLiteral("Only a failed order can be retried.")));
                return;
            case RetryDecision::NonRetryable:
                replyError(req, conflict("NON_RETRYABLE_FAILURE", QStringLiteral("non-retryable failure")));
                return;
            case RetryDecision::MaxAttemptsExceeded:
                replyError(req, conflict("MAX_RETRIES_EXCEEDED", QStringLiteral("maximum retry attempts exceeded")));
                return;
            case RetryDecision::CooldownActive:
                replyError(req, conflict("RETRY_COOLDOWN", QStringLiteral("retry cooldown period not elapsed")));
                return;
            case RetryDecision::AlreadyInProgress:
                replyError(req, conflict("RETRY_IN_PROGRESS", QStringLiteral("retry already in progress")));
                return;
            case RetryDecision::Unavailable:
                replyError(req, writeRefused(StoreError::Outage::Unknown));
                return;
            }
        });
    });
}

void SagaServer::retryHistory(const ApiRequest &r)
{
    const QUuid orderId = r.route.id;
    const Principal principal = r.principal;
    answerFromPool(r, [orderId, principal](SagaStore *store) {
        if (auto error = loadAccessible(store, orderId, principal))
            return Outcome::fail(*error);
        auto attempts = store->retryAttempts(orderId);
        if (!attempts.ok() && attempts.error.kind != StoreError::NotFound)
            return Outcome::fail(storeFailure(attempts.error));
        QJsonArray list;
        for (const RetryAttempt &attempt : std::as_const(attempts.value))
            list.append(SagaJson::retryAttemptToJson(attempt));
        return Outcome::json(QJsonObject{{QStringLiteral("orderId"), orderId.toString(QUuid::WithoutBraces)},
                                         {QStringLiteral("attempts"), list}});
    });
}

// ---------------------------------------------------------------- streams

// A stream lasts as long as the token it was opened with would be accepted:
// a stream of someone whose token expired (or was not renewed) ends.
quint64 SagaServer::endsWithToken(quint64 key, const ApiRequest &r)
{
    if (r.principal.expiresAt > 0)
        m_hub->expireAt(key, (r.principal.expiresAt + m_jwt.leewaySeconds() + 1) * 1000);
    return key;
}

// Writes the stream's head; false when there is no stream to follow (the client
// left, or asked with HEAD: the head alone, then the connection closes).
bool SagaServer::startStream(const ApiRequest &r)
{
    m_metrics.countRequest(200);
    QTcpSocket *socket = r.socket.data();
    if (!socket)
        return false;
    const QByteArray head = HttpReply::streamHead(200, kEventStream, r.trace.traceparent())
                            + (r.head ? QByteArray() : SseEncoder::retry(m_config.sseRetryMs));
    if (ConnectionGuard *guard = r.responseNumber != 0 ? ConnectionGuard::of(socket) : nullptr) {
        // In order: pipelinedStream() made sure it is next. The stream has the
        // connection from now on (no idle timeout).
        guard->respond(r.responseNumber, head, r.head, !r.head);
    } else {
        socket->write(head);
        if (r.head)
            socket->disconnectFromHost();
    }
    return !r.head;
}

bool SagaServer::pipelinedStream(const ApiRequest &r)
{
    // An event stream takes the connection over: it cannot wait behind earlier
    // pipelined requests that are still unanswered (the hub writes to the socket).
    ConnectionGuard *guard = r.responseNumber != 0 ? ConnectionGuard::of(r.socket.data()) : nullptr;
    if (!guard || !guard->hasEarlierPending(r.responseNumber))
        return false;
    ApiRequest closing = r;
    closing.closeAfter = true;
    replyError(closing, ApiError(400, QStringLiteral("PIPELINED_STREAM"),
                                 QStringLiteral("Open an event stream on a connection of its own, not pipelined behind "
                                                "unanswered requests.")));
    return true;
}

void SagaServer::statusStream(const ApiRequest &r)
{
    if (pipelinedStream(r))
        return;
    if (m_shuttingDown) {
        replyError(r, ApiError(503, QStringLiteral("SHUTTING_DOWN"), QStringLiteral("The server is shutting down.")));
        return;
    }
    bool ok = true;
    const qint64 lastEventId = r.lastEventId.isEmpty() ? -1 : r.lastEventId.toLongLong(&ok);
    if (!ok || lastEventId < -1) {
        replyError(r, ApiError::badField(QStringLiteral("Last-Event-ID"), QStringLiteral("must be an event id from this stream")));
        return;
    }
    withAccessibleOrder(r, [this, lastEventId](const ApiRequest &req) {
        const StatusCache::Entry *entry = m_cache->find(req.route.id);
        QTcpSocket *socket = req.socket.data();
        if (!entry) {
            replyError(req, ApiError::orderNotFound());
            return;
        }
        if (!socket || socket->state() != QAbstractSocket::ConnectedState)
            return;
        const QUuid orderId = req.route.id;
        const qint64 lastSeq = entry->progress.lastSeq;
        const bool terminal = entry->progress.isTerminal();
        if (lastEventId >= 0 && lastEventId != lastSeq) {
            // Before the cached last event, or after it (an id this server has not
            // seen yet): the store has the events, or says there are none.
            resumeStatusStream(req, lastEventId);
            return;
        }
        if (lastEventId >= 0 && terminal) {
            streamEnded(req);
            return;
        }
        if (!startStream(req))
            return;
        m_cache->pin(orderId);
        qCInfo(lcServer).noquote() << "trace" << req.trace.traceId() << "status stream of" << orderId.toString(QUuid::WithoutBraces)
                                   << "from" << (lastEventId < 0 ? QStringLiteral("snapshot") : QString::number(lastEventId));
        if (lastEventId < 0) {
            const quint64 key = endsWithToken(m_hub->subscribe(socket, orderId, 0, false, req.streamSlot), req);
            SseHub::Frame snapshot{lastSeq, SseEncoder::event(QByteArray::number(lastSeq), "snapshot",
                                                              m_cache->statusBody(*entry, req.trace.traceId())),
                                   terminal};
            m_hub->send(key, snapshot);
            return;
        }
        // At the order's last event, its saga still running: live from here.
        endsWithToken(m_hub->subscribe(socket, orderId, lastEventId, false, req.streamSlot), req);
    });
}

// A per-order stream resumed after its order's end: 204 No Content, which tells an
// EventSource to stop reconnecting (HTML, server-sent events). It used to get a 200
// stream that closed at once, which an EventSource reconnects to after `retry:`
// with the same Last-Event-ID: every 3 s, for as long as the page stayed open
// (as after the snapshot of a finished order, whose type is not a terminal event's).
void SagaServer::streamEnded(const ApiRequest &r)
{
    qCInfo(lcServer).noquote() << "trace" << r.trace.traceId() << "status stream of"
                               << r.route.id.toString(QUuid::WithoutBraces) << "resumed after its end: 204";
    reply(r, 204, QByteArray(), QByteArray());
}

namespace {
// The events of one order after a Last-Event-ID, read from the store as frames.
struct ResumeRead {
    std::optional<ApiError> error;
    qint64 lastSeq = 0; // the order's last event in the store
    bool ended = false; // that event ends the order's (current) attempt
    QVector<SseHub::Frame> frames;
};
} // namespace

// Resume: exactly the events after lastEventId, read from the store, then live.
// The stream is subscribed first (live events committed meanwhile are held) but
// its head is written only once the store answered: a store that cannot answer
// gives 503 (the client asks again with the same Last-Event-ID), never a stream
// that goes live with the events in between missing; an id after the order's
// last event gives 400 (it was never sent: the stream would wait for nothing).
void SagaServer::resumeStatusStream(const ApiRequest &r, qint64 lastEventId)
{
    const QUuid orderId = r.route.id;
    m_cache->pin(orderId); // unpinned when the subscriber goes (subscriberGone)
    const quint64 key = endsWithToken(m_hub->subscribe(r.socket.data(), orderId, lastEventId, true, r.streamSlot), r);
    m_pool->run<ResumeRead>(
        this,
        [orderId, lastEventId](SagaStore *store) {
            ResumeRead read;
            if (!store) {
                read.error = ApiError::unavailable();
                return read;
            }
            auto events = store->loadEvents(orderId, 0);
            if (!events.ok()) {
                read.error = storeFailure(events.error);
                return read;
            }
            // A terminal event followed by a retry's SAGA_STARTED ended an earlier
            // attempt, not the order: only the current attempt's end ends the stream.
            qint64 currentStart = 0;
            for (const OrderEvent &event : std::as_const(events.value)) {
                if (event.type == EventType::SagaStarted)
                    currentStart = event.seq;
                if (event.seq >= read.lastSeq) {
                    read.lastSeq = event.seq;
                    read.ended = isTerminalEvent(event);
                }
            }
            if (lastEventId > read.lastSeq)
                return read;
            OrderProgress progress(orderId);
            for (const OrderEvent &event : std::as_const(events.value)) {
                progress.apply(event);
                if (event.seq <= lastEventId)
                    continue;
                read.frames.append({event.seq,
                                    SseEncoder::event(QByteArray::number(event.seq), eventTypeName(event).toLatin1(),
                                                      eventFrameData(event, SagaJson::newStatusOf(event, progress))),
                                    isTerminalEvent(event) && event.seq > currentStart});
            }
            return read;
        },
        [this, key, r, lastEventId](ResumeRead read) {
            if (!m_hub->isSubscribed(key))
                return; // the client left (or fell behind while the store was read)
            if (read.error || lastEventId > read.lastSeq) {
                m_hub->unsubscribe(key);
                replyError(r, read.error ? *read.error
                                         : ApiError::badField(QStringLiteral("Last-Event-ID"),
                                                              QStringLiteral("is after the last event of this order (%1)")
                                                                  .arg(read.lastSeq)));
                return;
            }
            // Resumed at the end of an order this server's cache has not followed to
            // its end yet (another process ran it): nothing more will come. Live, the
            // stream would skip the end's frame as already sent and stay open.
            const StatusCache::Entry *cached = m_cache->find(r.route.id);
            if (read.frames.isEmpty() && read.ended && (!cached || cached->progress.lastSeq <= lastEventId)) {
                m_hub->unsubscribe(key);
                streamEnded(r);
                return;
            }
            if (!startStream(r)) { // HEAD: the head alone
                m_hub->unsubscribe(key);
                return;
            }
            qCInfo(lcServer).noquote() << "trace" << r.trace.traceId() << "status stream of"
                                       << r.route.id.toString(QUuid::WithoutBraces) << "from" << lastEventId;
            m_hub->catchUp(key, read.frames);
        });
}

void SagaServer::allOrdersStream(const ApiRequest &r)
{
    if (pipelinedStream(r))
        return;
    if (m_shuttingDown) {
        replyError(r, ApiError(503, QStringLiteral("SHUTTING_DOWN"), QStringLiteral("The server is shutting down.")));
        return;
    }
    bool ok = true;
    const qint64 lastPosition = r.lastEventId.isEmpty() ? -1 : r.lastEventId.toLongLong(&ok);
    if (!ok || lastPosition < -1) {
        replyError(r, ApiError::badField(QStringLiteral("Last-Event-ID"), QStringLiteral("must be an event id from this stream")));
        return;
    }
    if (lastPosition > m_sequencer.last()) {
        // After every position this server has seen: the store says whether it
        // exists (another process may have committed it) before the stream starts.
        m_pool->run<StoreResult<qint64>>(
            this,
            [](SagaStore *store) {
                StoreResult<qint64> newest;
                if (!store)
                    newest.error = noReadConnection();
                else
                    newest.value = store->lastPosition(&newest.error);
                return newest;
            },
            [this, r, lastPosition](StoreResult<qint64> newest) {
                if (!newest.ok())
                    replyError(r, storeFailure(newest.error));
                else if (lastPosition > newest.value)
                    replyError(r, ApiError::badField(QStringLiteral("Last-Event-ID"),
                                                     QStringLiteral("is after the newest event (%1)").arg(newest.value)));
                else
                    openAllOrdersStream(r, lastPosition);
            });
        return;
    }
    openAllOrdersStream(r, lastPosition);
}

void SagaServer::openAllOrdersStream(const ApiRequest &r, qint64 lastPosition)
{
    if (m_shuttingDown) {
        replyError(r, ApiError(503, QStringLiteral("SHUTTING_DOWN"), QStringLiteral("The server is shutting down.")));
        return;
    }
    QTcpSocket *socket = r.socket.data();
    if (!socket || socket->state() != QAbstractSocket::ConnectedState)
        return;
    if (lastPosition < 0) {
        if (!startStream(r))
            return;
        qCInfo(lcServer).noquote() << "trace" << r.trace.traceId() << "all-orders stream from now";
        const quint64 key = endsWithToken(m_hub->subscribe(socket, QUuid(), 0, false, r.streamSlot), r);
        m_hub->send(key, SseHub::Frame{0, SseEncoder::comment("connected"), false});
        return;
    }
    // A resume: the head is written once the store answered the first page, so a
    // store that cannot answer gives 503 (the client asks again with the same
    // Last-Event-ID) instead of a 200 that ends at once. The replay subscriber gets
    // neither live frames nor heartbeats until then.
    replayNext(endsWithToken(m_hub->subscribeReplay(socket, lastPosition, r.streamSlot), r), lastPosition,
               std::make_shared<ReplayFold>(),
               std::make_shared<ApiRequest>(r));
}

// The orders seen by one all-orders replay, folded so that a replayed event's
// newStatus is what it was when the event was committed. An order whose first
// replayed event is not its first event is folded from its earlier events (read
// once from the store); finished orders are forgotten when the map grows.
struct SagaServer::ReplayFold {
    QHash<QUuid, OrderProgress> orders;
};

namespace {
struct ReplayPage {
    StoreError error; // the store could not read the page
    QByteArray bytes; // the page's frames, one buffer
    int count = 0;
    qint64 lastPosition = 0;
};
} // namespace

void SagaServer::replayNext(quint64 key, qint64 cursor, std::shared_ptr<ReplayFold> fold,
                            std::shared_ptr<const ApiRequest> unanswered)
{
    const int chunk = qMax(1, m_config.replayChunkEvents);
    m_pool->run<ReplayPage>(
        this,
        [cursor, chunk, fold](SagaStore *store) {
            ReplayPage page;
            page.lastPosition = cursor;
            if (!store) {
                page.error = noReadConnection();
                return page;
            }
            auto events = store->loadEventsAfterPosition(cursor, chunk);
            if (!events.ok()) {
                page.error = events.error;
                return page;
            }
            if (fold->orders.size() > 10000) {
                for (auto it = fold->orders.begin(); it != fold->orders.end();)
                    it = it->isTerminal() ? fold->orders.erase(it) : std::next(it);
            }
            for (const OrderEvent &event : std::as_const(events.value)) {
                auto it = fold->orders.find(event.orderId);
                if (it == fold->orders.end()) {
                    OrderProgress progress(event.orderId);
                    if (event.seq > 1) {
                        auto earlier = store->loadEvents(event.orderId, 0);
                        if (!earlier.ok()) { // folded from nothing, its newStatus would be wrong
                            page.error = earlier.error;
                            return page;
                        }
                        for (const OrderEvent &e : std::as_const(earlier.value)) {
                            if (e.seq < event.seq)
                                progress.apply(e);
                        }
                    }
                    it = fold->orders.insert(event.orderId, std::move(progress));
                }
                const FoldResult result = it->apply(event);
                const QString newStatus = result.outcome == FoldResult::Applied ? SagaJson::newStatusOf(event, *it)
                                                                                : fallbackNewStatus(event);
                page.bytes.append(SseEncoder::event(QByteArray::number(event.position), eventTypeName(event).toLatin1(),
                                                    eventFrameData(event, newStatus)));
                page.lastPosition = event.position;
            }
            page.count = int(events.value.size());
            return page;
        },
        [this, key, cursor, chunk, fold, unanswered](ReplayPage page) {
            if (!m_hub->isSubscribed(key))
                return;
            if (unanswered) { // the first page: the stream's head is still to be written
                if (page.error) {
                    m_hub->unsubscribe(key);
                    replyError(*unanswered, storeFailure(page.error));
                    return;
                }
                if (!startStream(*unanswered)) { // HEAD: the head alone
                    m_hub->unsubscribe(key);
                    return;
                }
                qCInfo(lcServer).noquote() << "trace" << unanswered->trace.traceId() << "all-orders stream from"
                                           << cursor;
            }
            if (page.error) { // the database went away: the client resumes later with Last-Event-ID
                m_hub->close(key);
                return;
            }
            if (!m_hub->replayWrite(key, page.bytes, page.lastPosition))
                return;
            // Live from here when the store had nothing more and the stream has not
            // passed anything later yet: every later position is still to come live.
            if (page.count < chunk && page.lastPosition >= m_sequencer.last()) {
                m_hub->goLive(key);
                return;
            }
            const qint64 next = page.lastPosition;
            m_hub->whenDrained(key, [this, key, next, fold] { replayNext(key, next, fold); });
        });
}

void SagaServer::onEventsCommitted(const QVector<OrderEvent> &events)
{
    processEvents(events, true);
}

void SagaServer::processEvents(const QVector<OrderEvent> &events, bool local)
{
    QVector<SseHub::OrderFrame> orderFrames;
    QVector<GlobalSequencer::Item> global;
    const bool streaming = m_hub->subscriberCount() > 0;
    for (const OrderEvent &event : events) {
        const StatusCache::Applied applied = m_cache->apply(event);
        const FoldResult::Outcome outcome = applied.fold.outcome;
        const bool known = outcome == FoldResult::Duplicate || outcome == FoldResult::Rejected;
        // Our own events come back through the feed: the position says whether the
        // all-orders stream still needs this one (e.g. its order was loaded from
        // the store meanwhile, so the fold calls it a duplicate).
        const bool globalWanted = m_sequencer.wants(event.position) || event.position <= 0;
        const OrderProgress *after = applied.entry ? &applied.entry->progress : nullptr;
        if (known && !globalWanted) {
            if (local)
                m_metrics.observe(event, after);
            continue;
        }
        if (local) // every local event once (the feed may have brought it first)
            m_metrics.observe(event, after);
        const bool terminal = isTerminalEvent(event);
        if (!streaming) { // nobody listens: only keep the positions in order
            if (globalWanted)
                m_sequencer.push(event.position, QByteArray(), global);
            if (!known && terminal && m_waitersByOrder.contains(event.orderId))
                resolveWaiters(event.orderId);
            continue;
        }
        const QString newStatus = after && outcome == FoldResult::Applied ? SagaJson::newStatusOf(event, *after)
                                                                          : fallbackNewStatus(event);
        const QByteArray data = eventFrameData(event, newStatus); // serialized once for every stream
        const QByteArray type = eventTypeName(event).toLatin1();
        if (streaming && !known && (local || outcome == FoldResult::Applied))
            orderFrames.append({event.orderId,
                                SseHub::Frame{event.seq, SseEncoder::event(QByteArray::number(event.seq), type, data),
                                              terminal}});
        if (globalWanted) {
            m_sequencer.push(event.position,
                             SseEncoder::event(event.position > 0 ? QByteArray::number(event.position) : QByteArray(),
                                               type, data),
                             global);
        }
        if (!known && terminal && m_waitersByOrder.contains(event.orderId))
            resolveWaiters(event.orderId);
    }
    if (!streaming || (orderFrames.isEmpty() && global.isEmpty()))
        return;
    for (GlobalSequencer::Item &item : global) {
        if (!item.frame.isEmpty()) // empty: committed while nobody was listening
            m_outGlobalFrames.append(SseHub::Frame{item.position, std::move(item.frame), false});
    }
    m_outOrderFrames.append(orderFrames);
    if (!m_outOldest.isValid() && !events.isEmpty())
        m_outOldest = events.front().timestamp;
    // Batches already queued behind this one (a busy server) go out in the same
    // sweep over the subscribers: one write per subscriber per turn, not per batch.
    if (!m_flushQueued) {
        m_flushQueued = true;
        QMetaObject::invokeMethod(this, &SagaServer::flushFrames, Qt::QueuedConnection);
    }
}

void SagaServer::flushFrames()
{
    m_flushQueued = false;
    const QVector<SseHub::OrderFrame> orderFrames = std::exchange(m_outOrderFrames, {});
    const QVector<SseHub::Frame> globalFrames = std::exchange(m_outGlobalFrames, {});
    const QDateTime oldest = std::exchange(m_outOldest, QDateTime());
    if (orderFrames.isEmpty() && globalFrames.isEmpty())
        return;
    QElapsedTimer sweep;
    sweep.start();
    m_hub->publishBatch(orderFrames, globalFrames);
    const qint64 sweepNs = sweep.nsecsElapsed();
    const double age = oldest.isValid() ? oldest.msecsTo(QDateTime::currentDateTimeUtc()) / 1000.0 : 0.0;
    m_metrics.observeFanout(sweepNs / 1e9, qMax(0.0, age));
}

// ---------------------------------------------------------------- simulator, health, metrics

void SagaServer::getFaults(const ApiRequest &r)
{
    replyJson(r, 200, m_engine->faultPlan().toJson());
}

void SagaServer::putFaults(const ApiRequest &r)
{
    if (auto error = checkJsonBody(r, true)) {
        replyError(r, *error);
        return;
    }
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(r.body, &parseError);
    if (parseError.error != QJsonParseError::NoError || !doc.isObject()) {
        replyError(r, ApiError::invalidJson(parseError.error != QJsonParseError::NoError
                                                ? parseError.errorString()
                                                : QStringLiteral("expected an object")));
        return;
    }
    QString field;
    QString problem;
    const std::optional<FaultPlan> plan = FaultPlan::fromJson(doc.object(), &field, &problem);
    if (!plan) {
        replyError(r, ApiError::badField(field.isEmpty() ? QStringLiteral("steps") : field, problem));
        return;
    }
    m_engine->setFaultPlan(*plan);
    qCInfo(lcServer).noquote() << "trace" << r.trace.traceId() << "fault plan changed:"
                               << QJsonDocument(plan->toJson()).toJson(QJsonDocument::Compact);
    replyJson(r, 200, plan->toJson());
}

void SagaServer::health(const ApiRequest &r)
{
    const bool engineRunning = m_engine->isRunning();
    const bool up = m_databaseAvailable && engineRunning && !m_shuttingDown;
    QJsonObject database{{QStringLiteral("status"), m_databaseAvailable ? QStringLiteral("UP") : QStringLiteral("DOWN")},
                         {QStringLiteral("kind"), m_config.engine.database.isPostgres() ? QStringLiteral("postgresql")
                                                                                         : QStringLiteral("sqlite")}};
    if (!m_databaseAvailable) {
        // What kind of outage, as a code and the engine's sentence (the log has the driver's words).
        database.insert(QStringLiteral("cause"), outageCode(m_databaseOutage));
        database.insert(QStringLiteral("message"), m_databaseReason);
        database.insert(QStringLiteral("downSince"),
                        SagaJson::formatTimestamp(QDateTime::fromMSecsSinceEpoch(m_databaseDownSinceMs, Qt::UTC)));
    }
    QJsonObject body{{QStringLiteral("status"), up ? QStringLiteral("UP") : QStringLiteral("DOWN")},
                     {QStringLiteral("database"), database},
                     {QStringLiteral("engine"), engineRunning ? QStringLiteral("RUNNING") : QStringLiteral("STOPPED")},
                     {QStringLiteral("shuttingDown"), m_shuttingDown},
                     {QStringLiteral("uptimeSeconds"), double((QDateTime::currentMSecsSinceEpoch() - m_startedAtMs) / 1000)},
                     {QStringLiteral("streams"), m_hub->subscriberCount()},
                     {QStringLiteral("traceId"), QString::fromLatin1(r.trace.traceId())}};
    replyJson(r, up ? 200 : 503, body);
}

void SagaServer::metricsRoute(const ApiRequest &r)
{
    reply(r, 200, QByteArrayLiteral("text/plain; version=0.0.4; charset=utf-8"),
          m_metrics.render(m_hub->subscriberCount(), m_hub->droppedSlowClients(), m_databaseAvailable));
}
