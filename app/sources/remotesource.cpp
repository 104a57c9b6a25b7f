#include "remotesource.h"

#include "sagajson.h"
#include "sagalog.h"

#include <algorithm>

#include <QDateTime>
#include <QJsonArray>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkRequest>
#include <QUrlQuery>

namespace {
constexpr int kInitialBackoffMs = 500;

// Seconds a 429 asks to wait: Retry-After (delta-seconds), else the error's
// details.retryAfterSeconds, else 5; between 1 s and an hour.
int retryAfterOf(const QByteArray &header, const QJsonDocument &json)
{
    bool ok = false;
    int seconds = header.trimmed().toInt(&ok);
    if (!ok)
        seconds = json.object().value(QLatin1String("details")).toObject().value(QLatin1String("retryAfterSeconds")).toInt(5);
    return qBound(1, seconds, 3600);
}

QString errorMessageOf(const QJsonDocument &json)
{
    const QJsonObject o = json.object();
    QString message = o.value(QLatin1String("message")).toString();
    if (message.isEmpty())
        message = o.value(QLatin1String("error")).toString();
    return message;
}
} // namespace

RemoteSource::RemoteSource(const QUrl &serverUrl, const QString &token, QObject *parent)
    : ProgressSource(parent)
    , m_serverUrl(serverUrl)
    , m_authorization("Bearer " + token.trimmed().toUtf8())
    , m_nam(new QNetworkAccessManager(this))
{
    m_nam->setAutoDeleteReplies(true);
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, [this] {
        if (!m_running)
            return;
        ++m_reconnects; // the state still says why (connectionLost), not "Reconnecting…" at each attempt
        // Without a position to resume from, only a full reload is safe.
        if (m_lastPosition > 0 && m_loadedOrders >= 0 && !m_loading)
            resumeStream();
        else
            beginLoad();
    });
    m_idleTimer.setSingleShot(true);
    connect(&m_idleTimer, &QTimer::timeout, this, [this] {
        qCWarning(lcSources) << "stream silent for" << m_idleTimeoutMs << "ms; reconnecting";
        if (m_stream)
            m_stream->abort();
    });
}

RemoteSource::~RemoteSource()
{
    stop();
}

QString RemoteSource::kindName() const
{
    return tr("Remote");
}

QString RemoteSource::location() const
{
    return m_serverUrl.toString(QUrl::RemoveUserInfo | QUrl::StripTrailingSlash);
}

ProgressSource::Capabilities RemoteSource::capabilities() const
{
    return PlaceOrders | InjectFaults | Retry;
}

void RemoteSource::start()
{
    if (m_running)
        return;
    m_running = true;
    m_fatal = false;
    setState(State::Connecting, tr("Connecting to %1…").arg(location()));
    beginLoad();
}

void RemoteSource::stop()
{
    m_running = false;
    ++m_generation;
    m_reconnectTimer.stop();
    m_idleTimer.stop();
    if (m_stream) {
        QNetworkReply *stream = m_stream;
        m_stream = nullptr;
        stream->disconnect(this);
        stream->abort();
    }
    m_heldBack.clear();
}

QNetworkRequest RemoteSource::makeRequest(const QString &path, const QUrlQuery &query) const
{
    QUrl url = m_serverUrl;
    QString base = url.path();
    if (base.endsWith(QLatin1Char('/')))
        base.chop(1);
    url.setPath(base + path);
    url.setQuery(query);
    QNetworkRequest request(url);
    request.setRawHeader("Authorization", m_authorization);
    request.setRawHeader("Accept", "application/json");
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::NoLessSafeRedirectPolicy);
    request.setTransferTimeout(m_requestTimeoutMs);
    return request;
}

QString RemoteSource::describe(QNetworkReply *reply, int httpStatus, const QString &serverMessage) const
{
    const QString where = location();
    if (httpStatus == 401)
        return tr("The server at %1 rejected the token (401 Unauthorized): it is wrong or has "
                  "expired. Ask for a new SUPPORT token and connect again (File > Connect).")
            .arg(where);
    if (httpStatus == 403)
        return tr("The token is valid but may not see all orders (403 Forbidden). Use a token with "
                  "the SUPPORT role (saga-server token --role SUPPORT).");
    if (httpStatus == 404)
        return tr("%1 answered 404 Not Found: it does not look like a saga-server. Check the address.")
            .arg(where);
    // saga-server's 503 says why: the database away, read-only, its disk full (which
    // need someone), or the server shutting down. Without a reason, the usual one.
    if (httpStatus == 503 && !serverMessage.isEmpty())
        return tr("saga-server at %1 cannot do this right now (503): %2").arg(where, serverMessage.left(300));
    if (httpStatus == 503)
        return tr("saga-server at %1 cannot reach its database (503). It recovers on its own once "
                  "the database is back.")
            .arg(where);
    if (httpStatus >= 400 && !serverMessage.isEmpty())
        return tr("%1 answered HTTP %2: %3").arg(where).arg(httpStatus).arg(serverMessage.left(300));
    if (httpStatus >= 400)
        return tr("%1 answered HTTP %2.").arg(where).arg(httpStatus);
    switch (reply ? reply->error() : QNetworkReply::NoError) {
    case QNetworkReply::ConnectionRefusedError:
        return tr("Cannot reach saga-server at %1: the connection was refused. Check that the "
                  "server runs and the address and port are right.")
            .arg(where);
    case QNetworkReply::HostNotFoundError:
        return tr("Cannot reach saga-server at %1: the host name is unknown. Check the address.")
            .arg(where);
    case QNetworkReply::TimeoutError:
    case QNetworkReply::OperationCanceledError:
        return tr("saga-server at %1 did not answer in time. Check the network and that the "
                  "server is not overloaded.")
            .arg(where);
    case QNetworkReply::RemoteHostClosedError:
        // A server speaking plain HTTP closes a TLS handshake it cannot read.
        if (m_serverUrl.scheme() == QLatin1String("https"))
            return tr("%1 closed the connection during the secure (TLS) handshake. If the saga-server "
                      "serves plain HTTP, use http://%2 instead.")
                .arg(where, m_serverUrl.authority());
        return tr("saga-server at %1 closed the connection.").arg(where);
    case QNetworkReply::SslHandshakeFailedError:
        // A server speaking plain HTTP answers the TLS hello with an HTTP error,
        // which TLS reads as a record of a wrong version.
        if (m_serverUrl.scheme() == QLatin1String("https") && reply
            && reply->errorString().contains(QLatin1String("wrong version number"), Qt::CaseInsensitive))
            return tr("%1 answered the secure (TLS) handshake with something else: it seems to serve plain HTTP. "
                      "If it is a saga-server without TLS, use http://%2 instead.")
                .arg(where, m_serverUrl.authority());
        return tr("The secure connection to %1 failed. Check the certificate or use the right "
                  "scheme (http/https).")
            .arg(where);
    default:
        return reply ? tr("The connection to %1 failed: %2.").arg(where, reply->errorString())
                     : tr("The connection to %1 failed.").arg(where);
    }
}

void RemoteSource::send(const QByteArray &verb, const QString &path, const QUrlQuery &query,
                        const QJsonDocument &body, QObject *context, std::function<void(Response)> done,
                        const QByteArray &idempotencyKey)
{
    QNetworkRequest request = makeRequest(path, query);
    if (!idempotencyKey.isEmpty())
        request.setRawHeader("Idempotency-Key", idempotencyKey); // also on Qt's own resend of the request
    QNetworkReply *reply = nullptr;
    if (verb == "GET") {
        reply = m_nam->get(request);
    } else {
        request.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
        // Not followed: Qt re-sends a POST redirected by 301/302/303 as a GET, so
        // an order placed behind such a redirect would "succeed" with the order list.
        request.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
        reply = m_nam->sendCustomRequest(request, verb, body.toJson(QJsonDocument::Compact));
    }
    auto sent = std::make_shared<bool>(false);
    if (verb != "GET")
        connect(reply, &QNetworkReply::requestSent, reply, [sent] { *sent = true; });
    connect(reply, &QNetworkReply::finished, context, [this, reply, sent, done = std::move(done)] {
        Response r;
        r.httpStatus = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        r.outcomeUnknown = r.httpStatus == 0 && *sent;
        if (reply->isOpen()) // not after a timeout or abort: reading a closed reply only warns
            r.body = reply->readAll();
        r.location = reply->rawHeader("Location");
        r.contentType = reply->rawHeader("Content-Type");
        r.replayed = reply->rawHeader("Idempotent-Replayed").trimmed().compare("true", Qt::CaseInsensitive) == 0;
        if (!r.body.isEmpty())
            r.json = QJsonDocument::fromJson(r.body);
        if (r.httpStatus == 429) {
            r.retryAfterSeconds = retryAfterOf(reply->rawHeader("Retry-After"), r.json);
            r.error = tr("The server is limiting requests from this token; try again in %1 s.").arg(r.retryAfterSeconds);
        } else if (r.httpStatus < 200 || r.httpStatus >= 300) {
            const QString serverMessage = errorMessageOf(r.json);
            // 4xx with a message from the server (validation, conflicts) is already a sentence.
            if (r.httpStatus >= 400 && r.httpStatus < 500 && r.httpStatus != 401 && r.httpStatus != 403
                && r.httpStatus != 404 && !serverMessage.isEmpty())
                r.error = serverMessage;
            else if (r.httpStatus >= 300 && r.httpStatus < 400)
                r.error = tr("%1 answered with a redirect (HTTP %2) to %3, which was not followed: nothing was "
                             "changed. Connect to that address instead (File > Connect).")
                              .arg(location())
                              .arg(r.httpStatus)
                              .arg(QString::fromLatin1(r.location.left(200)));
            else
                r.error = describe(reply, r.httpStatus, serverMessage);
        }
        done(std::move(r));
    });
}

// ---- first load -------------------------------------------------------------

void RemoteSource::beginLoad()
{
    ++m_generation;
    m_loading = true;
    m_loadedOrders = 0;
    m_heldBack.clear();
    m_unsequenced.clear();
    m_rebasing.clear();
    m_known.clear();
    openStream();
    loadPage({});
}

void RemoteSource::loadPage(const QString &cursor)
{
    QUrlQuery query;
    query.addQueryItem(QStringLiteral("limit"), QStringLiteral("1000"));
    if (!cursor.isEmpty())
        query.addQueryItem(QStringLiteral("after"), cursor);
    const int generation = m_generation;
    send("GET", QStringLiteral("/api/orders"), query, {}, this, [this, generation](Response r) {
        if (!m_running || generation != m_generation)
            return;
        if (!r.error.isEmpty()) {
            if (!failedForGood(r))
                connectionLost(r.error, r.retryAfterSeconds * 1000);
            return;
        }
        const QJsonObject page = r.json.object();
        if (!page.value(QLatin1String("orders")).isArray() && !r.json.isArray()) {
            // A 2xx that is not an order list (a web server's page, another service).
            notASagaServer(r.contentType);
            return;
        }
        QJsonArray list = page.value(QLatin1String("orders")).toArray();
        if (list.isEmpty() && r.json.isArray())
            list = r.json.array();
        QVector<OrderProgress> snapshots;
        snapshots.reserve(list.size());
        for (const QJsonValue &v : std::as_const(list)) {
            const QJsonObject item = v.toObject();
            Parsed<OrderProgress> p = SagaJson::orderListItemFromJson(item);
            if (p.ok()) {
                OrderProgress &progress = *p.value;
                m_known.insert(progress.orderId);
                // Without lastSeq the order is rebased on its first live event.
                if (progress.lastSeq <= 0)
                    m_unsequenced.insert(progress.orderId);
                snapshots.append(std::move(progress));
            } else {
                qCWarning(lcSources).noquote() << "skipping order in list:" << p.field << p.error;
                // Not shown, but not unknown either: its events are no sign of a replaced server.
                const QUuid id(item.value(QLatin1String("orderId")).toString());
                if (!id.isNull())
                    m_known.insert(id);
            }
        }
        m_loadedOrders += int(snapshots.size());
        if (!snapshots.isEmpty())
            Q_EMIT snapshotsReady(snapshots);
        const QString next = page.value(QLatin1String("nextCursor")).toString();
        if (!next.isEmpty() && !list.isEmpty()) {
            loadPage(next);
            return;
        }
        m_loading = false;
        // Orders with an unreadable event that came during the load: read again now
        // (their pages may be from before it), their held-back events waiting for it.
        const QHash<QUuid, QString> catchUps = std::exchange(m_catchUpAfterLoad, {});
        for (auto it = catchUps.cbegin(); it != catchUps.cend(); ++it)
            catchUp(it.key(), it.value());
        if (!m_heldBack.isEmpty())
            deliver(std::exchange(m_heldBack, {}));
        if (m_streamLive)
            setState(State::Live, liveMessage());
        if (!isInitialLoadDone())
            setInitialLoadDone(m_loadedOrders);
    });
}

bool RemoteSource::failedForGood(const Response &r)
{
    if (r.httpStatus != 401 && r.httpStatus != 403)
        return false;
    m_fatal = true;
    stop();
    setState(State::Failed, r.error);
    return true;
}

// ---- the all-orders stream --------------------------------------------------

void RemoteSource::resumeStream()
{
    const LastShown shown = m_lastShown;
    if (shown.orderId.isNull()) {
        openStream();
        return;
    }
    const int generation = m_generation;
    const QString order = shown.orderId.toString(QUuid::WithoutBraces);
    send("GET", QStringLiteral("/api/orders/%1/events").arg(order), {}, {}, this,
         [this, generation, shown, order](Response r) {
             if (!m_running || generation != m_generation)
                 return;
             const QString stranger =
                 tr("saga-server at %1 holds other events than those shown: ").arg(location());
             const QString restored = tr(" (restored from a backup, or restarted on another database?).");
             if (r.httpStatus == 404 && r.json.object().value(QLatin1String("error")).toString()
                                            == QLatin1String("NOT_FOUND")) {
                 reloadReplaced(stranger
                                + tr("order %1, whose event %2 was the last one shown, is not there")
                                      .arg(order)
                                      .arg(shown.seq)
                                + restored);
                 return;
             }
             if (!r.error.isEmpty()) {
                 if (!failedForGood(r))
                     connectionLost(r.error, r.retryAfterSeconds * 1000);
                 return;
             }
             if (!r.json.isArray()) { // saga-server answers an array
                 notASagaServer(r.contentType);
                 return;
             }
             // Only the event at that seq is read: the order's others may be of
             // kinds this console cannot read (a newer saga-server's).
             QJsonArray atSeq;
             for (const QJsonValue &v : r.json.array()) {
                 if (v.toObject().value(QLatin1String("id")).toInteger(-1) == shown.seq) {
                     atSeq.append(v);
                     break;
                 }
             }
             QString error;
             const QVector<OrderEvent> events = eventsFromRawJson(shown.orderId, atSeq, &error);
             if (!error.isEmpty()) {
                 // Cannot be compared (an event this console cannot read): resumed as it is.
                 qCWarning(lcSources).noquote() << "could not check the last event shown:" << error;
                 openStream();
                 return;
             }
             if (events.isEmpty() || events.first().type != shown.type
                 || events.first().timestamp.toMSecsSinceEpoch() != shown.timestamp.toMSecsSinceEpoch()) {
                 reloadReplaced(stranger
                                + tr("event %1 of order %2 is not the %3 of %4 shown")
                                      .arg(shown.seq)
                                      .arg(order, toString(shown.type),
                                           shown.timestamp.toString(Qt::ISODateWithMs))
                                + restored);
                 return;
             }
             openStream();
         });
}

void RemoteSource::openStream()
{
    if (m_stream) {
        QNetworkReply *old = m_stream;
        m_stream = nullptr;
        old->disconnect(this);
        old->abort();
    }
    m_parser.reset();
    m_streamLive = false;
    QNetworkRequest request = makeRequest(QStringLiteral("/api/orders/stream"));
    request.setRawHeader("Accept", "text/event-stream");
    request.setRawHeader("Cache-Control", "no-cache");
    request.setTransferTimeout(0); // the idle timer watches the heartbeats instead
    request.setAttribute(QNetworkRequest::CacheLoadControlAttribute, QNetworkRequest::AlwaysNetwork);
    m_resumed = m_lastPosition > 0;
    if (m_resumed)
        request.setRawHeader("Last-Event-ID", QByteArray::number(m_lastPosition));
    qCInfo(lcSources) << "opening stream, Last-Event-ID" << m_lastPosition;
    QNetworkReply *reply = m_nam->get(request);
    m_stream = reply;
    connect(reply, &QNetworkReply::metaDataChanged, this, [this, reply] {
        if (reply == m_stream && reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt() == 200)
            acceptStream(reply);
    });
    connect(reply, &QNetworkReply::readyRead, this, &RemoteSource::onStreamReadyRead);
    connect(reply, &QNetworkReply::finished, this, [this, reply] { onStreamFinished(reply); });
    m_idleTimer.start(m_idleTimeoutMs);
}

void RemoteSource::onStreamReadyRead()
{
    if (!m_stream || !m_running)
        return;
    const int status = m_stream->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (status != 200)
        return; // an error body; handled when finished
    if (!acceptStream(m_stream))
        return;
    m_idleTimer.start(m_idleTimeoutMs);
    const QVector<SseEvent> sse = m_parser.feed(m_stream->readAll());
    if (m_parser.overflowed()) {
        // Not something saga-server sends: drop the stream rather than buffer it.
        connectionLost(tr("saga-server at %1 sent an event over %2 MiB; the stream was dropped.")
                           .arg(location())
                           .arg(SseStreamParser::kMaxEventBytes / (1024 * 1024)));
        return;
    }
    if (sse.isEmpty())
        return;
    QVector<OrderEvent> events;
    events.reserve(sse.size());
    for (const SseEvent &e : sse) {
        const QJsonDocument doc = QJsonDocument::fromJson(e.data);
        if (!doc.isObject())
            continue; // e.g. a plain-text hello
        Parsed<OrderEvent> parsed = SagaJson::statusEventFromJson(doc.object());
        if (!parsed.ok()) {
            // Not applied, so the order's later events would wait behind it for good
            // (the fold applies seqs in order): its state is read again instead.
            bool numbered = false;
            const qint64 position = e.id.toLongLong(&numbered);
            if (numbered && position > 0 && position <= m_lastPosition)
                continue; // sent again on a resumed stream: what came after it is shown
            const QUuid orderId(doc.object().value(QLatin1String("orderId")).toString());
            const QString why = parsed.field + QLatin1Char(' ') + parsed.error;
            if (orderId.isNull())
                qCWarning(lcSources).noquote() << "unreadable stream event:" << why;
            else if (m_loading)
                m_catchUpAfterLoad.insert(orderId, why); // (a page read before it may still come)
            else
                catchUp(orderId, why);
            continue;
        }
        OrderEvent event = std::move(*parsed.value);
        if (event.position <= 0) {
            bool ok = false;
            const qint64 id = e.id.toLongLong(&ok);
            if (ok)
                event.position = id;
        }
        events.append(std::move(event));
    }
    deliver(std::move(events));
}

// A 200 is the stream only when it is an event stream: anything else (a web
// server's page or file) would end at once and be asked for again and again.
bool RemoteSource::acceptStream(QNetworkReply *reply)
{
    if (m_streamLive)
        return true;
    const QByteArray type = reply->rawHeader("Content-Type");
    if (!type.trimmed().toLower().startsWith("text/event-stream")) {
        notASagaServer(type);
        return false;
    }
    markStreamLive();
    return true;
}

void RemoteSource::notASagaServer(const QByteArray &contentType)
{
    if (m_notASagaServer.isEmpty()) {
        const QString type = QString::fromLatin1(contentType.split(';').value(0).trimmed().left(100));
        m_notASagaServer = tr("%1 does not look like a saga-server (answered 200 %2). Check the address.")
                               .arg(location(), type.isEmpty() ? tr("without a content type") : type);
    }
    connectionLost(m_notASagaServer); // the same sentence for the whole outage: logged once
}

void RemoteSource::markStreamLive()
{
    if (m_streamLive)
        return;
    m_streamLive = true;
    m_notASagaServer.clear();
    m_backoffMs = kInitialBackoffMs;
    logConnectionBack();
    if (!m_loading)
        setState(State::Live, liveMessage());
}

QString RemoteSource::liveMessage()
{
    const QString live = tr("Live from %1.").arg(location());
    if (m_reloadNote.isEmpty())
        return live;
    return live + QLatin1Char(' ') + std::exchange(m_reloadNote, {});
}

void RemoteSource::deliver(QVector<OrderEvent> events)
{
    if (m_loading) {
        m_heldBack += events;
        return;
    }
    QVector<OrderEvent> fresh;
    fresh.reserve(events.size());
    for (OrderEvent &e : events) {
        if (e.position > 0 && e.position <= m_lastPosition) {
            ++m_skippedDuplicates;
            continue;
        }
        if (m_resumed && e.seq > 1 && !m_known.contains(e.orderId)) {
            // Every event after the position resumed from is sent, so an order
            // not seen before starts here with its first event. This one did not:
            // the server's events are not the ones shown.
            reloadReplaced(tr("saga-server at %1 sent event %2 of an order never seen here (%3) after "
                              "position %4: it holds other orders than those shown (restarted on another "
                              "database?).")
                               .arg(location())
                               .arg(e.seq)
                               .arg(e.orderId.toString(QUuid::WithoutBraces))
                               .arg(m_lastPosition));
            return;
        }
        if (e.position > 0) {
            m_lastPosition = e.position;
            m_lastShown = {e.orderId, e.seq, e.type, e.timestamp};
        }
        m_known.insert(e.orderId);
        if (m_unsequenced.contains(e.orderId)) {
            auto it = m_rebasing.find(e.orderId);
            const bool first = it == m_rebasing.end();
            if (first)
                it = m_rebasing.insert(e.orderId, {});
            it->append(std::move(e));
            if (first)
                rebase(it.key());
            continue;
        }
        fresh.append(std::move(e));
    }
    if (!fresh.isEmpty())
        Q_EMIT eventsReady(fresh);
}

QVector<OrderEvent> RemoteSource::eventsFromRawJson(const QUuid &orderId, const QJsonArray &raw, QString *error)
{
    QVector<OrderEvent> events;
    events.reserve(raw.size());
    const QString id = orderId.toString(QUuid::WithoutBraces);
    for (const QJsonValue &v : raw) {
        QJsonObject o = v.toObject();
        o.insert(QLatin1String("orderId"), id);
        o.insert(QLatin1String("seq"), o.value(QLatin1String("id")));
        o.insert(QLatin1String("newStatus"), QStringLiteral("QUEUED")); // not used by the fold
        Parsed<OrderEvent> e = SagaJson::statusEventFromJson(o);
        if (!e.ok()) {
            if (error)
                *error = e.field + QLatin1Char(' ') + e.error;
            return {};
        }
        events.append(std::move(*e.value));
    }
    return events;
}

// A stream event of `orderId` that this console cannot read (an event type of a
// newer saga-server, a damaged event): the order's list entry, which carries its
// state and last seq, is read again (GET /api/orders?q=ID), and its events wait
// until then. Once per order at a time; if the entry cannot be had, the waiting
// events are delivered anyway (the order then shows what it showed before).
void RemoteSource::catchUp(const QUuid &orderId, const QString &why)
{
    if (m_rebasing.contains(orderId))
        return; // already being read again (its events wait)
    qCWarning(lcSources).noquote() << "unreadable stream event of order" << orderId.toString(QUuid::WithoutBraces)
                                   << "(" << why << "): reading the order again";
    m_known.insert(orderId); // the server holds it: its next events are no stranger's
    m_unsequenced.insert(orderId);
    m_rebasing.insert(orderId, {});
    const int generation = m_generation;
    const QString id = orderId.toString(QUuid::WithoutBraces);
    QUrlQuery query;
    query.addQueryItem(QStringLiteral("q"), id);
    query.addQueryItem(QStringLiteral("limit"), QStringLiteral("10"));
    send("GET", QStringLiteral("/api/orders"), query, {}, this, [this, orderId, id, generation](Response r) {
        if (!m_running || generation != m_generation)
            return;
        std::optional<OrderProgress> entry;
        QString error = r.error;
        const QJsonArray list = r.json.object().value(QLatin1String("orders")).toArray();
        for (const QJsonValue &v : list) {
            if (v.toObject().value(QLatin1String("orderId")).toString() != id)
                continue;
            Parsed<OrderProgress> p = SagaJson::orderListItemFromJson(v.toObject());
            if (p.ok() && p.value->lastSeq > 0)
                entry = std::move(*p.value);
            else
                error = p.ok() ? QStringLiteral("no lastSeq") : p.field + QLatin1Char(' ') + p.error;
            break;
        }
        if (!entry)
            qCWarning(lcSources).noquote() << "could not read order" << id << "again:"
                                           << (error.isEmpty() ? QStringLiteral("not listed") : error);
        rebased(orderId, entry);
    });
}

// The end of rebase() or catchUp(): the order's snapshot, when there is one, then
// the events that waited for it (those the snapshot holds are ignored by the fold).
void RemoteSource::rebased(const QUuid &orderId, const std::optional<OrderProgress> &snapshot)
{
    m_unsequenced.remove(orderId);
    const QVector<OrderEvent> pending = m_rebasing.take(orderId);
    if (snapshot)
        Q_EMIT snapshotsReady({*snapshot});
    if (!pending.isEmpty())
        Q_EMIT eventsReady(pending);
}

void RemoteSource::rebase(const QUuid &orderId)
{
    const int generation = m_generation;
    send("GET", QStringLiteral("/api/orders/%1/events").arg(orderId.toString(QUuid::WithoutBraces)), {}, {},
         this, [this, orderId, generation](Response r) {
             if (!m_running || generation != m_generation)
                 return;
             QString error = r.error;
             const QJsonArray raw = r.json.isArray() ? r.json.array()
                                                      : r.json.object().value(QLatin1String("events")).toArray();
             const QVector<OrderEvent> all = error.isEmpty() ? eventsFromRawJson(orderId, raw, &error)
                                                             : QVector<OrderEvent>{};
             std::optional<OrderProgress> progress;
             if (error.isEmpty() && !all.isEmpty()) {
                 progress.emplace(orderId);
                 for (const OrderEvent &e : all)
                     progress->apply(e);
             } else {
                 qCWarning(lcSources).noquote() << "could not read the events of" << orderId << ":" << error;
             }
             rebased(orderId, progress);
         });
}

void RemoteSource::onStreamFinished(QNetworkReply *reply)
{
    if (reply != m_stream || !m_running)
        return;
    m_stream = nullptr;
    m_idleTimer.stop();
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (status == 401 || status == 403) {
        m_fatal = true;
        const QString why = describe(reply, status);
        stop();
        setState(State::Failed, why);
        return;
    }
    const QString serverMessage = status >= 400 && reply->isOpen()
                                      ? errorMessageOf(QJsonDocument::fromJson(reply->readAll()))
                                      : QString();
    if (status == 400 && !reply->request().rawHeader("Last-Event-ID").isEmpty()) {
        // saga-server cannot resume from the position shown here: its newest event
        // is before it, so its events (its database) are not the ones followed.
        reloadReplaced(tr("saga-server at %1 cannot continue from event %2 (it answered: %3): it holds other "
                          "orders than those shown (restarted on another database?).")
                           .arg(location(), QString::fromLatin1(reply->request().rawHeader("Last-Event-ID")),
                                serverMessage.isEmpty() ? tr("HTTP 400") : serverMessage.left(300)));
        return;
    }
    if (status == 429) {
        // Too many streams open with this token (other consoles, or leftovers):
        // ask again once the server says, not sooner.
        const int seconds = retryAfterOf(reply->rawHeader("Retry-After"), QJsonDocument());
        connectionLost(tr("saga-server at %1 is limiting the event streams of this token (HTTP 429%2); the next try "
                          "is in %3 s.")
                           .arg(location(), serverMessage.isEmpty() ? QString() : QStringLiteral(": ") + serverMessage.left(300))
                           .arg(seconds),
                       seconds * 1000);
        return;
    }
    QString why = describe(reply, status, serverMessage);
    if (reply->error() == QNetworkReply::NoError && status == 200)
        why = tr("saga-server at %1 ended the live stream.").arg(location());
    connectionLost(why);
}

void RemoteSource::reloadReplaced(const QString &why)
{
    if (!m_running)
        return;
    const QString note = tr("%1 Every order was loaded again from it.").arg(why);
    m_streamLive = false;
    m_idleTimer.stop();
    m_reconnectTimer.stop();
    if (m_stream) {
        QNetworkReply *old = m_stream;
        m_stream = nullptr;
        old->disconnect(this);
        old->abort();
    }
    m_lastPosition = 0; // a position of the old data: nothing to resume from
    m_reloadNote = note;
    replaceContents(tr("%1 data replaced: %2").arg(kindName(), note)); // (logged there, once)
    setState(State::Reconnecting, tr("%1 Loading every order again…").arg(why));
    beginLoad(); // the server answers: no backoff
}

void RemoteSource::connectionLost(const QString &why, int notBeforeMs)
{
    if (!m_running)
        return;
    logConnectionLost(why);
    m_streamLive = false;
    if (m_stream) {
        QNetworkReply *old = m_stream;
        m_stream = nullptr;
        old->disconnect(this);
        old->abort();
    }
    if (m_loading) // the first load did not finish: start it over
        ++m_generation;
    // One sentence for the whole outage (no countdown that would be stale at once).
    setState(isInitialLoadDone() ? State::Stale : State::Reconnecting,
             isInitialLoadDone() ? tr("%1 Showing what was last received; retrying until it answers.").arg(why)
                                 : tr("%1 Retrying until it answers.").arg(why));
    scheduleReconnect(notBeforeMs);
}

void RemoteSource::scheduleReconnect(int notBeforeMs)
{
    if (m_reconnectTimer.isActive())
        return;
    if (m_loading) {
        m_loading = false;   // the timer restarts the whole load
        m_lastPosition = 0;  // nothing applied yet from the stream is trusted
        m_heldBack.clear();
    }
    m_reconnectTimer.start(qMax(m_backoffMs, notBeforeMs));
    m_backoffMs = qMin(m_backoffMs * 2, m_maxBackoffMs);
}

// ---- requests ---------------------------------------------------------------

void RemoteSource::placeOrder(const OrderRequest &request, QObject *context,
                              std::function<void(PlaceOrderResult)> done)
{
    // A fresh key per placement; the caller sends an unanswered order again with
    // the key it was sent with (PlaceOrderResult::idempotencyKey), so saga-server
    // places it at most once.
    const QString key = request.idempotencyKey.isEmpty() ? QUuid::createUuid().toString(QUuid::WithoutBraces)
                                                         : request.idempotencyKey;
    send("POST", QStringLiteral("/api/orders"), {},
         QJsonDocument(SagaJson::orderRequestToJson(request)), context,
         [done = std::move(done), key](Response r) {
             PlaceOrderResult result;
             result.ok = r.error.isEmpty();
             result.error = r.error;
             result.outcomeUnknown = r.outcomeUnknown;
             result.retryAfterSeconds = r.retryAfterSeconds;
             if (r.httpStatus == 429) // refused before anything was done
                 result.error = tr("The server is limiting new orders; try again in %1 s.").arg(r.retryAfterSeconds);
             result.idempotencyKey = key;
             if (r.httpStatus == 503
                 && r.json.object().value(QLatin1String("error")).toString() == QLatin1String("ORDER_OUTCOME_UNKNOWN")) {
                 // saga-server could not tell in time whether it was recorded (its database went away).
                 result.outcomeUnknown = true;
                 result.error = tr("The server's database went away while it was recording the order.");
             }
             if (result.outcomeUnknown)
                 result.error = tr("%1 The order was sent and may have been placed — check the order list, or "
                                   "send it again: sent again, it is placed once at most.")
                                    .arg(result.error);
             const QJsonObject o = r.json.object();
             QString id = o.value(QLatin1String("orderId")).toString();
             if (id.isEmpty())
                 id = o.value(QLatin1String("id")).toString();
             if (id.isEmpty() && !r.location.isEmpty()) {
                 const QList<QByteArray> parts = r.location.split('/');
                 for (const QByteArray &part : parts) {
                     const QUuid candidate(QString::fromLatin1(part));
                     if (!candidate.isNull())
                         id = candidate.toString(QUuid::WithoutBraces);
                 }
             }
             result.orderId = QUuid(id);
             result.orderNumber = o.value(QLatin1String("orderNumber")).toString();
             if (result.ok && result.orderId.isNull()) {
                 // Not an answer to placing an order (a proxy's page, another service).
                 result.ok = false;
                 result.error = tr("The server's answer does not name a new order (HTTP %1); the order may not "
                                   "have been placed. Check the server address.")
                                    .arg(r.httpStatus);
             }
             // saga-server placed nothing for this request: an earlier one with the
             // same key (the unanswered first sending) had placed the order it names.
             result.alreadyPlaced = result.ok && r.replayed;
             done(result);
         },
         key.toLatin1());
}

void RemoteSource::retryEligibility(const QUuid &orderId, QObject *context,
                                    std::function<void(RetryEligibility, QString)> done)
{
    send("GET",
         QStringLiteral("/api/orders/%1/retry/eligibility").arg(orderId.toString(QUuid::WithoutBraces)),
         {}, {}, context, [done = std::move(done)](Response r) {
             if (!r.error.isEmpty()) {
                 RetryEligibility e;
                 e.reason = r.error;
                 done(e, r.error);
                 return;
             }
             Parsed<RetryEligibility> parsed = SagaJson::eligibilityFromJson(r.json.object());
             if (!parsed.ok()) {
                 RetryEligibility e;
                 e.reason = tr("The server's answer could not be read (%1).").arg(parsed.field);
                 done(e, e.reason);
                 return;
             }
             done(*parsed.value, {});
         });
}

void RemoteSource::retry(const RetryRequest &request, QObject *context,
                         std::function<void(RetryDecision)> done)
{
    send("POST",
         QStringLiteral("/api/orders/%1/retry").arg(request.orderId.toString(QUuid::WithoutBraces)),
         {}, QJsonDocument(SagaJson::retryRequestToJson(request)), context,
         [done = std::move(done)](Response r) {
             RetryDecision d;
             const QJsonObject o = r.json.object();
             if (r.error.isEmpty()) {
                 d.code = RetryDecision::Accepted;
                 d.attemptNumber = o.value(QLatin1String("attemptNumber")).toInt();
                 d.executionId = o.value(QLatin1String("executionId")).toString();
                 done(d);
                 return;
             }
             d.reason = r.error;
             if (r.httpStatus == 429) { // refused before anything was done
                 d.code = RetryDecision::Unavailable;
                 d.reason = tr("The server is limiting retries and new orders; try again in %1 s.")
                                .arg(r.retryAfterSeconds);
                 d.nextRetryAvailableAt = QDateTime::currentDateTimeUtc().addSecs(r.retryAfterSeconds);
                 done(d);
                 return;
             }
             if (r.outcomeUnknown) {
                 d.code = RetryDecision::Unavailable;
                 d.outcomeUnknown = true;
                 d.reason = tr("%1 The retry was sent and may have started — the order will show it.").arg(r.error);
                 done(d);
                 return;
             }
             const QString text = (errorMessageOf(r.json) + QLatin1Char(' ') + r.error).toLower();
             if (r.httpStatus == 404)
                 d.code = RetryDecision::NotFound;
             else if (text.contains(QLatin1String("non-retryable")))
                 d.code = RetryDecision::NonRetryable;
             else if (text.contains(QLatin1String("maximum retry")))
                 d.code = RetryDecision::MaxAttemptsExceeded;
             else if (text.contains(QLatin1String("cooldown")))
                 d.code = RetryDecision::CooldownActive;
             else if (text.contains(QLatin1String("already in progress")))
                 d.code = RetryDecision::AlreadyInProgress;
             else if (r.httpStatus == 409 || r.httpStatus == 400)
                 d.code = RetryDecision::NotFailed;
             else
                 d.code = RetryDecision::Unavailable;
             done(d);
         });
}

void RemoteSource::faultPlan(QObject *context, std::function<void(FaultPlan, QString)> done)
{
    send("GET", QStringLiteral("/api/simulator/faults"), {}, {}, context,
         [done = std::move(done)](Response r) {
             if (!r.error.isEmpty()) {
                 done(FaultPlan{}, r.error);
                 return;
             }
             QString field, error;
             std::optional<FaultPlan> plan = FaultPlan::fromJson(r.json.object(), &field, &error,
                                                                 FaultPlan::Fields::IgnoreUnknown);
             if (!plan)
                 done(FaultPlan{}, tr("The server's fault plan could not be read (%1: %2).").arg(field, error));
             else
                 done(*plan, {});
         });
}

void RemoteSource::setFaultPlan(const FaultPlan &plan, QObject *context,
                                std::function<void(QString)> done)
{
    send("PUT", QStringLiteral("/api/simulator/faults"), {}, QJsonDocument(plan.toJson()), context,
         [done = std::move(done)](Response r) { done(r.error); });
}

void RemoteSource::loadCase(const QUuid &orderId, QObject *context,
                            std::function<void(OrderCase, QString)> done)
{
    const QString id = orderId.toString(QUuid::WithoutBraces);
    auto result = std::make_shared<OrderCase>();
    auto pending = std::make_shared<int>(3);
    auto firstError = std::make_shared<QString>();
    result->orderId = orderId;
    auto finishOne = [result, pending, firstError, done](const QString &error) {
        if (!error.isEmpty() && firstError->isEmpty())
            *firstError = error;
        if (--*pending == 0)
            done(*result, *firstError);
    };
    send("GET", QStringLiteral("/api/orders/%1/history").arg(id), {}, {}, context,
         [result, finishOne](Response r) {
             if (r.error.isEmpty()) {
                 Parsed<OrderHistory> h = SagaJson::historyFromJson(r.json.object());
                 if (h.ok())
                     result->history = *h.value;
                 else
                     r.error = tr("The order history could not be read (%1).").arg(h.field);
             }
             finishOne(r.error);
         });
    send("GET", QStringLiteral("/api/orders/%1").arg(id), {}, {}, context, [result, finishOne](Response r) {
        if (r.error.isEmpty()) {
            Parsed<OrderRecord> o = SagaJson::orderRecordFromJson(r.json.object());
            if (o.ok())
                result->record = std::move(*o.value);
            else
                qCWarning(lcSources).noquote() << "order record not readable:" << o.field << o.error;
        }
        finishOne({}); // the history and the events are the case; the record only fills the retry form
    });
    send("GET", QStringLiteral("/api/orders/%1/events").arg(id), {}, {}, context,
         [result, finishOne](Response r) {
             if (r.error.isEmpty()) {
                 result->rawEvents = r.json.isArray()
                                         ? r.json.array()
                                         : r.json.object().value(QLatin1String("events")).toArray();
             }
             finishOne(r.error);
         });
}
