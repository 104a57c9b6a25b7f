#include "httpstepclient.h"

#include "sagajson.h"
#include "sagalog.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTimer>
#include <cmath>

struct HttpStepClient::Call {
    StepRequest request;
    std::function<void(StepOutcome)> done;
    QUrl url;
    QByteArray body;
    int attempt = 0;
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
        body.insert(QStringLiteral("reservationId"), r.context.value(QStringLiteral("reservationId")));
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

// A step service's answer is kept, so it is bounded like any input: ids and
// values at most 256 characters, an error code 64, a message 1,000; U+0000 and
// unpaired surrogates replaced (PostgreSQL would refuse the whole transition);
// only strings and numbers kept as results.
constexpr qsizetype kMaxResultText = 256;
constexpr qsizetype kMaxErrorCode = 64;
constexpr qsizetype kMaxErrorMessage = 1000;
// A whole answer is read into memory: one larger than this is cut off (a step
// service has no reason to send more; without a bound it could exhaust the engine).
constexpr qint64 kMaxAnswerBytes = 1024 * 1024;
const char *const kOversized = "sagaOversized";

QJsonObject resultOf(const QJsonObject &body)
{
    QJsonObject result;
    for (const char *key : {"reservationId", "authorizationId", "amountInCents", "shipmentId", "trackingNumber",
                            "estimatedDelivery"}) {
        const QString k = QLatin1String(key);
        const QJsonValue v = body.value(k);
        const bool amount = k == QLatin1String("amountInCents");
        if (v.isString()) {
            result.insert(k, SagaJson::storableText(v.toString(), kMaxResultText));
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

StepOutcome rejection(const QJsonObject &body, int status)
{
    QString code = body.value(QStringLiteral("error")).toString(body.value(QStringLiteral("code")).toString());
    code = SagaJson::storableText(code.trimmed(), kMaxErrorCode);
    if (code.isEmpty())
        code = QStringLiteral("STEP_REJECTED");
    QString message = SagaJson::storableText(body.value(QStringLiteral("message")).toString(), kMaxErrorMessage);
    if (message.trimmed().isEmpty())
        message = QStringLiteral("The step service rejected the request (HTTP %1).").arg(status);
    return StepOutcome::failure(code, message);
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
    , m_nam(std::make_unique<QNetworkAccessManager>())
{
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
        const QString handle = r.context.value(handleKey(r.step)).toString();
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
    send(c);
}

void HttpStepClient::send(const std::shared_ptr<Call> &c)
{
    ++c->attempt;
    QNetworkRequest nr(c->url);
    nr.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    nr.setRawHeader(QByteArrayLiteral("Idempotency-Key"), c->request.idempotencyKey.toUtf8());
    nr.setRawHeader(QByteArrayLiteral("Accept"), QByteArrayLiteral("application/json"));
    nr.setTransferTimeout(m_timeoutMs);
    // Not followed: Qt turns a POST redirected by 301/302/303 into a bodiless GET,
    // and a step call goes to the configured service only. A redirect is answered
    // like an unavailable service (retried, then SERVICE_UNAVAILABLE naming it).
    nr.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    QNetworkReply *reply = m_nam->post(nr, c->body);
    QObject::connect(reply, &QNetworkReply::downloadProgress, reply, [reply](qint64 received, qint64 total) {
        if ((received > kMaxAnswerBytes || total > kMaxAnswerBytes) && !reply->property(kOversized).toBool()) {
            reply->setProperty(kOversized, true);
            reply->abort();
        }
    });
    QObject::connect(reply, &QNetworkReply::finished, m_nam.get(), [this, c, reply] { finished(c, reply); });
}

void HttpStepClient::finished(const std::shared_ptr<Call> &c, QNetworkReply *reply)
{
    reply->deleteLater();
    const bool oversized = reply->property(kOversized).toBool();
    // An answer cut off for its size is no answer: retried like a transport error.
    const int status = oversized ? 0 : reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QNetworkReply::NetworkError netError = oversized ? QNetworkReply::UnknownContentError : reply->error();
    const QByteArray payload = reply->isOpen() ? reply->readAll() : QByteArray();
    const bool compensation = c->request.action == StepAction::Compensate;

    // A forward answer without its handle is retried like a transport error.
    QJsonObject result;
    bool unusable = false;
    if (status >= 200 && status < 300 && !compensation) {
        result = resultOf(QJsonDocument::fromJson(payload).object());
        // "." and ".." are no ids: as a URL path segment they would send the
        // compensation to another resource (/reservations/../release).
        const QString handle = result.value(handleKey(c->request.step)).toString().trimmed();
        unusable = handle.isEmpty() || handle == QLatin1String(".") || handle == QLatin1String("..");
    }
    if (status >= 200 && status < 300 && !unusable) {
        c->done(StepOutcome::success(result));
        return;
    }
    // 408 Request Timeout, 425 Too Early and 429 Too Many Requests say "not now",
    // not "no": they are retried like a 5xx, after Retry-After when it is given.
    const bool notNow = status == 408 || status == 425 || status == 429;
    if (status >= 400 && status < 500 && !notNow) {
        if (compensation && (status == 404 || status == 409 || status == 410)) {
            c->done(StepOutcome::success());
            return;
        }
        c->done(rejection(QJsonDocument::fromJson(payload).object(), status));
        return;
    }
    // Transport error, timeout, 5xx, "not now", a redirect or a forward 2xx without
    // its handle: retry with backoff.
    const bool redirect = status >= 300 && status < 400;
    const bool timedOut = netError == QNetworkReply::OperationCanceledError || netError == QNetworkReply::TimeoutError;
    if (c->attempt <= m_retries) {
        const int delay = qMax(qMin(5000, 100 << qMin(c->attempt - 1, 6)), retryAfterMs(reply));
        qCDebug(lcEngine) << "step call" << c->url.path() << "failed (" << (status ? QString::number(status) : reply->errorString())
                          << "), retry" << c->attempt << "in" << delay << "ms";
        // Precise: a coarse timer may fire up to 5 % early, before a Retry-After is over.
        QTimer::singleShot(delay, Qt::PreciseTimer, m_nam.get(), [this, c] { send(c); });
        return;
    }
    const QString why = oversized ? QStringLiteral("an answer of more than %1 KiB").arg(kMaxAnswerBytes / 1024)
                        : unusable ? QStringLiteral("HTTP %1 with no %2").arg(status).arg(handleKey(c->request.step))
                        : redirect ? QStringLiteral("HTTP %1, a redirect to %2, not followed")
                                         .arg(status)
                                         .arg(SagaJson::storableText(
                                             QString::fromLatin1(reply->rawHeader(QByteArrayLiteral("Location"))), 200))
                        : status   ? QStringLiteral("HTTP %1").arg(status)
                                   : reply->errorString();
    qCWarning(lcEngine) << "step call" << c->url.path() << "failed after" << c->attempt << "attempts:" << why;
    if (timedOut)
        c->done(StepOutcome::failure(QStringLiteral("STEP_TIMEOUT"),
                                     QStringLiteral("The step service did not answer in time.")));
    else
        c->done(StepOutcome::failure(QStringLiteral("SERVICE_UNAVAILABLE"),
                                     oversized || status
                                         ? QStringLiteral("The step service is unavailable (%1).").arg(why)
                                         : QStringLiteral("The step service is unavailable.")));
}
