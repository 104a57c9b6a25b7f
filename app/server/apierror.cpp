#include "apierror.h"

#include <QJsonDocument>

ApiError::ApiError(int status, QString error, QString message, QJsonObject details)
    : m_status(status)
    , m_error(std::move(error))
    , m_message(std::move(message))
    , m_details(std::move(details))
{
}

ApiError ApiError::badField(const QString &field, const QString &problem)
{
    return ApiError(400, QStringLiteral("INVALID_FIELD"),
                    QStringLiteral("%1: %2").arg(field, problem),
                    QJsonObject{{QStringLiteral("field"), field}});
}

ApiError ApiError::badId(const QString &field, const QString &value)
{
    Q_UNUSED(value)
    return ApiError(400, QStringLiteral("INVALID_ID"),
                    QStringLiteral("%1 must be a UUID such as 550e8400-e29b-41d4-a716-446655440000.")
                        .arg(field),
                    QJsonObject{{QStringLiteral("field"), field}});
}

ApiError ApiError::invalidJson(const QString &problem)
{
    return ApiError(400, QStringLiteral("INVALID_JSON"),
                    QStringLiteral("The request body is not a JSON object: %1.").arg(problem),
                    QJsonObject{{QStringLiteral("field"), QStringLiteral("body")}});
}

ApiError ApiError::unauthorized(const QString &why)
{
    return ApiError(401, QStringLiteral("UNAUTHORIZED"),
                    QStringLiteral("Send a valid bearer token (Authorization: Bearer ...): %1.").arg(why));
}

ApiError ApiError::forbidden(const QString &message)
{
    return ApiError(403, QStringLiteral("FORBIDDEN"), message);
}

ApiError ApiError::notFound(const QString &what)
{
    return ApiError(404, QStringLiteral("NOT_FOUND"), what);
}

ApiError ApiError::orderNotFound()
{
    return notFound(QStringLiteral("No such order. Check the order id."));
}

ApiError ApiError::methodNotAllowed(const QByteArray &allow)
{
    return ApiError(405, QStringLiteral("METHOD_NOT_ALLOWED"),
                    QStringLiteral("This resource only accepts %1.").arg(QString::fromLatin1(allow)),
                    QJsonObject{{QStringLiteral("allow"), QString::fromLatin1(allow)}});
}

ApiError ApiError::payloadTooLarge(qint64 limit)
{
    return ApiError(413, QStringLiteral("PAYLOAD_TOO_LARGE"),
                    QStringLiteral("The request body must not exceed %1 bytes.").arg(limit));
}

ApiError ApiError::unsupportedMediaType(const QByteArray &contentType)
{
    return ApiError(415, QStringLiteral("UNSUPPORTED_MEDIA_TYPE"),
                    QStringLiteral("Send the body as application/json (got \"%1\").")
                        .arg(QString::fromLatin1(contentType.left(100))));
}

ApiError ApiError::unavailable()
{
    return ApiError(503, QStringLiteral("SERVICE_UNAVAILABLE"),
                    QStringLiteral("The database is unavailable right now. Try again in a few seconds."));
}

ApiError ApiError::rateLimited(const QString &limit, const QString &message, int retryAfterSeconds)
{
    return ApiError(429, QStringLiteral("RATE_LIMITED"), message,
                    QJsonObject{{QStringLiteral("limit"), limit},
                                {QStringLiteral("retryAfterSeconds"), qMax(1, retryAfterSeconds)}});
}

QJsonObject ApiError::toJson() const
{
    QJsonObject json{{QStringLiteral("error"), m_error}, {QStringLiteral("message"), m_message}};
    if (!m_details.isEmpty())
        json.insert(QStringLiteral("details"), m_details);
    return json;
}

QByteArray ApiError::toBody() const
{
    return QJsonDocument(toJson()).toJson(QJsonDocument::Compact);
}
