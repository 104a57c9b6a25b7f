#include "httpstepclient.h"

#include "failurecatalog.h"

#include "sagajson.h"
#include "sagalog.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTimer>
#include <chrono>
#include <cmath>

struct HttpStepClient::Call {
    StepRequest request;
    std::function<void(StepOutcome)> done;
    QUrl url;
    QByteArray body;
    int attempt = 0;
    // Some attempt may have reached the service (it was sent, or failed in a way
    // that does not prove it was not): the call may have taken effect.
    bool mayHaveReached = false;
};

namespace {

QJsonObject requestBody(const StepRequest &r)
{
    QJsonObject body{{QStringLiteral("orderId"), r.orderId.toString(QUuid::WithoutBraces)},
                     {QStringLiteral("executionId"), r.executionId}};
    if (r.action == StepAction::Compensate) {
        body.insert(QStringLiteral("forwardIdempotencyKey"),
                    stepIdempotencyKey(r.executionId, r.step, StepAction::Forward));
        return body;
    }
    switch (r.step) {
    case SagaStep::Inventory: {
        QJsonArray items;
        for (const OrderItem &it : r.items)
            items.append(QJsonObject{{QStringLiteral("productId"), it.productId},
                                     {QStringLiteral("quantity"), it.quantity}});
        body.insert(QStringLiteral("items"), items);
        break;
    }
    case SagaStep::Payment:
        body.insert(QStringLiteral("customerId"), r.customerId.toString(QUuid::WithoutBraces));
        body.insert(QStringLiteral("paymentMethodId"), r.paymentMethodId);
        body.insert(QStringLiteral("amountInCents"), r.totalInCents);
        break;
    case SagaStep::Shipping: {
        const ShippingAddress &a = r.shippingAddress;
        // The inventory step's own reservation (no other step's answer can supply it).
        body.insert(QStringLiteral("reservationId"), r.context.value(SagaStep::Inventory, u"reservationId"));
        body.insert(QStringLiteral("shippingAddress"),
                    QJsonObject{{QStringLiteral("street"), a.street},
                                {QStringLiteral("city"), a.city},
                                {QStringLiteral("state"), a.state},
                                {QStringLiteral("postalCode"), a.postalCode},
                                {QStringLiteral("country"), a.country}});
        break;
    }
    }
    return body;
}

// A step service's answer is kept, so it is bounded like any input: an error code
// at most 64 characters, a message 1,000, U+0000 and unpaired surrogates replaced
// (PostgreSQL would refuse the whole transition). Results are ids and values used as
// they are (in a compensation's URL, shown to the customer): one that cannot be kept
// whole (over 256 characters, U+0000, an unpaired surrogate) is never stored changed,
// the answer is refused instead. Only strings and numbers are kept as results.
constexpr qsizetype kMaxResultText = 256;
constexpr qsizetype kMaxErrorCode = 64;
constexpr qsizetype kMaxErrorMessage = 1000;
// A whole answer is read into memory: one larger than this is cut off (a step
// service has no reason to send more; without a bound it could exhaust the engine).
constexpr qint64 kMaxAnswerBytes = 1024 * 1024;
const char *const kOversized = "sagaOversized";
const char *const kSent = "sagaSent";
const char *const kTimedOut = "sagaTimedOut";
// An attempt whose answer keeps coming (a byte now and then) is still cut off this
// many step timeouts after it was sent: progress does not keep a call out for ever.
constexpr int kAttemptCapTimeouts = 4;

// The keys a step's forward answer is read for: its own results only (an inventory
// answer naming an authorizationId is not the payment step's authorization).
QVector<QLatin1String> resultKeys(SagaStep step)
{
    switch (step) {
    case SagaStep::Inventory:
        return {QLatin1String("reservationId")};
    case SagaStep::Payment:
        return {QLatin1String("authorizationId"), QLatin1String("amountInCents")};
    case SagaStep::Shipping:
        return {QLatin1String("shipmentId"), QLatin1String("trackingNumber"), QLatin1String("estimatedDelivery")};
    }
    return {};
}

// The step's results from its answer. *unkept names a value that cannot be kept
// whole, and why ("reservationId of more than 256 characters"); the answer is then
// not usable.
QJsonObject resultOf(const QJsonObject &body, SagaStep step, QString *unkept)
{
    QJsonObject result;
    for (const QLatin1String k : resultKeys(step)) {
        QJsonValue v = body.value(k);
        const bool amount = k == QLatin1String("amountInCents");
        // An amount in another shape (true, {"value": ...}) is an amount the engine
        // cannot match with the one it asked for: kept as its JSON text, so the
        // orchestrator sees it and refuses it (a null is no amount).
        if (amount && (v.isBool() || v.isObject() || v.isArray())) {
            const QJsonDocument doc = v.isObject() ? QJsonDocument(v.toObject()) : QJsonDocument(QJsonArray{v});
            QString text = QString::fromUtf8(doc.toJson(QJsonDocument::Compact));
            if (!v.isObject())
                text = text.mid(1, text.size() - 2); // [true] -> true
            v = text;
        }
        if (v.isString()) {
            const QString text = v.toString();
            if (text.size() > kMaxResultText) {
                *unkept = QStringLiteral("%1 of more than %2 characters").arg(k).arg(kMaxResultText);
                return {};
            }
            if (SagaJson::textProblem(text)) {
                *unkept = QStringLiteral("%1 holding U+0000 or an unpaired surrogate").arg(k);
                return {};
            }
            result.insert(k, text);
        } else if (v.isDouble() && amount) {
            result.insert(k, v);
        } else if (v.isDouble()) {
            // A numeric id (4711) is kept as its text: the compensation's URL and the
            // order's details use it as an id, not as a number (4711.0, 4.711e+03).
            const double d = v.toDouble();
            if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)
                result.insert(k, QString::number(qint64(d)));
        }
    }
    return result;
}

// The key a forward step's answer must carry: the handle its compensation (and the
// next steps) use, in its URL (endpointPath). A 2xx answer without it (a proxy's page, a truncated body) does
// not say what was done, so it is not taken as done.
QLatin1String handleKey(SagaStep step)
{
    switch (step) {
    case SagaStep::Inventory:
        return QLatin1String("reservationId");
    case SagaStep::Payment:
        return QLatin1String("authorizationId");
    case SagaStep::Shipping:
        return QLatin1String("shipmentId");
    }
    return QLatin1String("");
}

// Codes the engine gives itself: each means something to it (a call that may have
// taken effect, a saga support must finish). A service answering one is rejecting
// the request in its own words, not reporting an engine condition.
bool engineCode(const QString &code)
{
    return isEngineVerdict(code) || code.compare(QLatin1String("SERVICE_UNAVAILABLE"), Qt::CaseInsensitive) == 0;
}

// Errors Qt reports only before the request was written: no connection was made
// (refused, no such host, the proxy or TLS handshake failed) or none could be.
bool failsBeforeSending(QNetworkReply::NetworkError error)
{
    switch (error) {
    case QNetworkReply::ConnectionRefusedError:
    case QNetworkReply::HostNotFoundError:
    case QNetworkReply::SslHandshakeFailedError:
    case QNetworkReply::ProxyConnectionRefusedError:
    case QNetworkReply::ProxyNotFoundError:
    case QNetworkReply::ProxyAuthenticationRequiredError:
    case QNetworkReply::ProtocolUnknownError:
        return true;
    default:
        return false;
    }
}

StepOutcome rejection(const QJsonObject &body, int status)
{
    QString code = body.value(QStringLiteral("error")).toString(body.value(QStringLiteral("code")).toString());
    code = SagaJson::storableText(code.trimmed(), kMaxErrorCode);
    QString message = SagaJson::storableText(body.value(QStringLiteral("message")).toString(), kMaxErrorMessage);
    if (engineCode(code)) {
        // Kept in the message, so it is on record and searchable, but not as the code.
        const QString said = QStringLiteral("The step service rejected the request (HTTP %1, its code %2)").arg(status).arg(code);
        message = SagaJson::storableText(message.trimmed().isEmpty() ? said + QLatin1Char('.') : said + QStringLiteral(": ") + message,
                                         kMaxErrorMessage);
        code.clear();
    }
    if (code.isEmpty())
        code = QStringLiteral("STEP_REJECTED");
    if (message.trimmed().isEmpty())
        message = QStringLiteral("The step service rejected the request (HTTP %1).").arg(status);
    return StepOutcome::failure(code, message);
}

// What an answer that is no success said in its body ({"error": CODE, "message": ...}),
// bounded and storable: "BOOM: void broke", or empty when it said nothing readable.
QString serviceSaid(const QByteArray &payload)
{
    const QJsonObject body = QJsonDocument::fromJson(payload).object();
    const QString code = SagaJson::storableText(
        body.value(QStringLiteral("error")).toString(body.value(QStringLiteral("code")).toString()).trimmed(), kMaxErrorCode);
    const QString message =
        SagaJson::storableText(body.value(QStringLiteral("message")).toString().trimmed(), kMaxErrorMessage / 2);
    if (code.isEmpty() || message.isEmpty())
        return code + message;
    return code + QStringLiteral(": ") + message;
}

// How long a service asked to be left alone (Retry-After: seconds or an HTTP
// date), at most 10 s: a step call does not wait longer than that per attempt.
int retryAfterMs(const QNetworkReply *reply)
{
    constexpr qint64 kMaxWaitMs = 10000;
    const QByteArray value = reply->rawHeader(QByteArrayLiteral("Retry-After")).trimmed();
    if (value.isEmpty())
        return 0;
    bool isNumber = false;
    const qint64 seconds = value.toLongLong(&isNumber);
    qint64 ms = 0;
    if (isNumber) {
        ms = seconds > kMaxWaitMs / 1000 ? kMaxWaitMs : seconds * 1000;
    } else {
        // An HTTP date ends in "GMT", which Qt's RFC 2822 parser does not take.
        QString date = QString::fromLatin1(value);
        if (date.endsWith(QLatin1String(" GMT")))
            date = date.chopped(4) + QLatin1String(" +0000");
        const QDateTime when = QDateTime::fromString(date, Qt::RFC2822Date);
        if (when.isValid())
            ms = QDateTime::currentDateTimeUtc().msecsTo(when);
    }
    return int(qBound<qint64>(0, ms, kMaxWaitMs));
}

} // namespace

HttpStepClient::HttpStepClient(const QUrl &baseUrl, int timeoutMs, int retries)
    : m_baseUrl(baseUrl)
    , m_timeoutMs(qMax(1, timeoutMs))
    , m_retries(qMax(0, retries))
{
    for (Lane &lane : m_lanes)
        lane.nam = std::make_unique<QNetworkAccessManager>();
}

HttpStepClient::~HttpStepClient() = default;

QString HttpStepClient::describe() const
{
    return m_baseUrl.toString();
}

QString HttpStepClient::endpointPath(const StepRequest &r)
{
    // The forward call's id, or its idempotency key when it never answered.
    auto id = [&r] {
        const QString handle = r.context.value(r.step, handleKey(r.step)).toString();
        return QString::fromLatin1(QUrl::toPercentEncoding(
            handle.isEmpty() ? stepIdempotencyKey(r.executionId, r.step, StepAction::Forward) : handle));
    };
    const bool forward = r.action == StepAction::Forward;
    switch (r.step) {
    case SagaStep::Inventory:
        return forward ? QStringLiteral("/inventory/reservations")
                       : QStringLiteral("/inventory/reservations/%1/release").arg(id());
    case SagaStep::Payment:
        return forward ? QStringLiteral("/payments/authorizations")
                       : QStringLiteral("/payments/authorizations/%1/void").arg(id());
    case SagaStep::Shipping:
        return forward ? QStringLiteral("/shipping/shipments")
                       : QStringLiteral("/shipping/shipments/%1/cancel").arg(id());
    }
    return {};
}

void HttpStepClient::call(const StepRequest &request, std::function<void(StepOutcome)> done)
{
    auto c = std::make_shared<Call>();
    c->request = request;
    c->done = std::move(done);
    QString base = m_baseUrl.toString();
    while (base.endsWith(QLatin1Char('/')))
        base.chop(1);
    c->url = QUrl(base + endpointPath(request), QUrl::StrictMode);
    c->body = QJsonDocument(requestBody(request)).toJson(QJsonDocument::Compact);
    queue(c);
}

HttpStepClient::Lane &HttpStepClient::laneOf(const Call &c)
{
    return m_lanes[size_t(int(c.request.step) * 2 + (c.request.action == StepAction::Compensate ? 1 : 0))];
}

void HttpStepClient::queue(const std::shared_ptr<Call> &c)
{
    Lane &lane = laneOf(*c);
    lane.waiting.push_back(c);
    sendWaiting(lane);
}

void HttpStepClient::sendWaiting(Lane &lane)
{
    while (lane.out < kCallsPerLane && !lane.waiting.empty()) {
        std::shared_ptr<Call> c = std::move(lane.waiting.front());
        lane.waiting.pop_front();
        send(lane, c);
    }
}

void HttpStepClient::send(Lane &lane, const std::shared_ptr<Call> &c)
{
    ++c->attempt;
    ++lane.out;
    QNetworkRequest nr(c->url);
    nr.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    nr.setRawHeader(QByteArrayLiteral("Idempotency-Key"), c->request.idempotencyKey.toUtf8());
    nr.setRawHeader(QByteArrayLiteral("Accept"), QByteArrayLiteral("application/json"));
    // Runs from here: the lane never has more calls out than the manager has
    // connections, so the request goes to one at once instead of waiting in Qt's queue.
    // Qt restarts it whenever bytes arrive (a time without progress); the cap below
    // ends an answer that keeps coming.
    nr.setTransferTimeout(m_timeoutMs);
    // HTTP/1.1 only, also over TLS: connections per lane are then as counted above,
    // and requestSent() says when a request was written (was it sent at all?).
    nr.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    // Not followed: Qt turns a POST redirected by 301/302/303 into a bodiless GET,
    // and a step call goes to the configured service only. A redirect is answered
    // like an unavailable service (retried, then SERVICE_UNAVAILABLE naming it).
    nr.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    QNetworkReply *reply = lane.nam->post(nr, c->body);
    QObject::connect(reply, &QNetworkReply::requestSent, reply, [reply] { reply->setProperty(kSent, true); });
    QObject::connect(reply, &QNetworkReply::downloadProgress, reply, [reply](qint64 received, qint64 total) {
        if ((received > kMaxAnswerBytes || total > kMaxAnswerBytes) && !reply->property(kOversized).toBool()) {
            reply->setProperty(kOversized, true);
            reply->abort();
        }
    });
    QObject::connect(reply, &QNetworkReply::finished, lane.nam.get(), [this, c, reply] { finished(c, reply); });
    // However its bytes come (one every few seconds), an attempt ends this long after it
    // was sent: a service cannot hold a call, and one of its lane's connections, for ever.
    QTimer::singleShot(std::chrono::milliseconds(qint64(m_timeoutMs) * kAttemptCapTimeouts), reply, [reply] {
        reply->setProperty(kTimedOut, true);
        reply->abort(); // nothing when it has finished
    });
}

void HttpStepClient::finished(const std::shared_ptr<Call> &c, QNetworkReply *reply)
{
    reply->deleteLater();
    Lane &lane = laneOf(*c);
    --lane.out;
    sendWaiting(lane); // the connection is free for the next call (before `done`, which may call again)
    const bool oversized = reply->property(kOversized).toBool();
    // An answer cut off for its size is no answer: retried like a transport error.
    const int status = oversized ? 0 : reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QNetworkReply::NetworkError netError = oversized ? QNetworkReply::UnknownContentError : reply->error();
    const QByteArray payload = reply->isOpen() ? reply->readAll() : QByteArray();
    const bool compensation = c->request.action == StepAction::Compensate;
    // Not sent: no answer, the request never written, and an error of making the
    // connection. Anything else may have reached the service.
    if (status != 0 || reply->property(kSent).toBool() || !failsBeforeSending(netError))
        c->mayHaveReached = true;
    // A 2xx whose body did not arrive whole (a broken chunk, the connection closed or
    // timed out while reading) is no answer either: a compensation is not done on it.
    const bool success = status >= 200 && status < 300;
    const bool broken = success && netError != QNetworkReply::NoError;

    // A forward answer without its handle, or with a value that cannot be kept whole,
    // is retried like a transport error.
    QJsonObject result;
    bool unusable = false;
    QString unkept;
    if (success && !broken && !compensation) {
        result = resultOf(QJsonDocument::fromJson(payload).object(), c->request.step, &unkept);
        // "." and ".." are no ids: as a URL path segment they would send the
        // compensation to another resource (/reservations/../release).
        const QString handle = result.value(handleKey(c->request.step)).toString().trimmed();
        unusable = !unkept.isEmpty() || handle.isEmpty() || handle == QLatin1String(".") || handle == QLatin1String("..");
    }
    if (success && !broken && !unusable) {
        c->done(StepOutcome::success(result));
        return;
    }
    // 408 Request Timeout, 425 Too Early and 429 Too Many Requests say "not now",
    // not "no": they are retried like a 5xx, after Retry-After when it is given.
    const bool notNow = status == 408 || status == 425 || status == 429;
    if (status >= 400 && status < 500 && !notNow) {
        const QJsonObject answer = QJsonDocument::fromJson(payload).object();
        if (compensation && (status == 404 || status == 410)) {
            // Nothing to reverse: it was never made (a forward call that did not
            // answer is reversed by its key) or is gone already. Done, but not quietly:
            // the answer goes on record with the step's STEP_COMPENSATED.
            StepOutcome done = StepOutcome::success();
            const QString said = serviceSaid(payload);
            done.note = SagaJson::storableText(QStringLiteral("HTTP %1: nothing to reverse").arg(status)
                                                   + (said.isEmpty() ? QString() : QStringLiteral(" (") + said + QLatin1Char(')')),
                                               kMaxErrorMessage);
            c->done(done);
            return;
        }
        // A business answer. For a compensation (409 ALREADY_CAPTURED: the authorization
        // was captured and cannot be voided; 422, ...) the reversal did not happen: a
        // failed compensation, which the orchestrator retries within its budget and
        // then records as "compensation incomplete: <the service's message>".
        c->done(rejection(answer, status));
        return;
    }
    // Transport error, timeout, 5xx, "not now", a redirect, a broken 2xx or a forward
    // 2xx without its handle: retry with backoff.
    const bool redirect = status >= 300 && status < 400;
    // Qt's transfer timeout cancels the reply; the cap sets kTimedOut.
    const bool timedOut = reply->property(kTimedOut).toBool() || netError == QNetworkReply::OperationCanceledError
        || netError == QNetworkReply::TimeoutError;
    // A redirect's target is the service's own (internal) address: in the log, never
    // in what is recorded (the order's owner reads the failure's message).
    const QString location =
        redirect ? SagaJson::storableText(QString::fromLatin1(reply->rawHeader(QByteArrayLiteral("Location"))), 200) : QString();
    if (c->attempt <= m_retries) {
        const int delay = qMax(qMin(5000, 100 << qMin(c->attempt - 1, 6)), retryAfterMs(reply));
        qCDebug(lcEngine) << "step call" << c->url.path() << "failed ("
                          << (timedOut ? QStringLiteral("timed out") : status ? QString::number(status) : reply->errorString())
                          << location << "), retry" << c->attempt << "in" << delay << "ms";
        // Precise: a coarse timer may fire up to 5 % early, before a Retry-After is over.
        QTimer::singleShot(delay, Qt::PreciseTimer, lane.nam.get(), [this, c] { queue(c); });
        return;
    }
    // What the service said, when it said something (a 5xx's {"error": "BOOM",
    // "message": "void broke"}): kept in the failure, so a compensation that gives up
    // records the service's words after "compensation incomplete: ".
    const QString said = status >= 400 ? serviceSaid(payload) : QString();
    const QString why = oversized ? QStringLiteral("an answer of more than %1 KiB").arg(kMaxAnswerBytes / 1024)
                        : broken  ? QStringLiteral("HTTP %1 with an answer that did not arrive whole").arg(status)
                        : !unkept.isEmpty() ? QStringLiteral("HTTP %1 with a %2").arg(status).arg(unkept)
                        : unusable ? QStringLiteral("HTTP %1 with no %2").arg(status).arg(handleKey(c->request.step))
                        : redirect ? QStringLiteral("HTTP %1, a redirect, not followed").arg(status)
                        : !said.isEmpty() ? QStringLiteral("HTTP %1: %2").arg(status).arg(said)
                        : status   ? QStringLiteral("HTTP %1").arg(status)
                                   : reply->errorString();
    // A forward call ends here: its failure is the step's, said once. A compensation
    // is the orchestrator's to retry within its budget (it warns when it gives up), so
    // each of its calls is only a debug line.
    const QString logged = redirect ? why + QStringLiteral(" (to ") + location + QLatin1Char(')')
                           : timedOut ? QStringLiteral("no answer in time (") + why + QLatin1Char(')')
                                      : why;
    if (compensation)
        qCDebug(lcEngine) << "step call" << c->url.path() << "failed after" << c->attempt << "attempts:" << logged
                          << (c->mayHaveReached ? "" : "(never sent)");
    else
        qCWarning(lcEngine) << "step call" << c->url.path() << "failed after" << c->attempt << "attempts:" << logged
                            << (c->mayHaveReached ? "" : "(never sent)");
    if (!c->mayHaveReached)
        c->done(StepOutcome::notMade(QStringLiteral("SERVICE_UNAVAILABLE"),
                                     QStringLiteral("The step service could not be reached; the request was not sent.")));
    else if (timedOut)
        c->done(StepOutcome::failure(QStringLiteral("STEP_TIMEOUT"),
                                     QStringLiteral("The step service did not answer in time.")));
    else
        c->done(StepOutcome::failure(QStringLiteral("SERVICE_UNAVAILABLE"),
                                     oversized || status
                                         ? SagaJson::storableText(QStringLiteral("The step service is unavailable (%1).").arg(why),
                                                                  kMaxErrorMessage)
                                         : QStringLiteral("The step service is unavailable.")));
}
