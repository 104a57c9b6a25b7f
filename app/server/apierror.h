#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QString>

// The one error shape of the API: {"error": CODE, "message": sentence, "details": {...}?}
// with its HTTP status (ARCHITECTURE.md, "Errors"). Messages say what to do and
// never carry SQL or internal text.
class ApiError
{
public:
    ApiError(int status, QString error, QString message, QJsonObject details = {});

    // 400 naming the offending field: details.field = field.
    static ApiError badField(const QString &field, const QString &problem);
    static ApiError badId(const QString &field, const QString &value);
    static ApiError invalidJson(const QString &problem);
    static ApiError unauthorized(const QString &why);
    static ApiError forbidden(const QString &message);
    static ApiError notFound(const QString &what);
    static ApiError orderNotFound();
    static ApiError methodNotAllowed(const QByteArray &allow);
    static ApiError payloadTooLarge(qint64 limit);
    static ApiError unsupportedMediaType(const QByteArray &contentType);
    static ApiError unavailable();
    // 429 RATE_LIMITED: `limit` (details.limit) says what was limited ("requests",
    // "unauthenticated", "streams"), `message` what and when to come back;
    // details.retryAfterSeconds is the Retry-After header's value.
    static ApiError rateLimited(const QString &limit, const QString &message, int retryAfterSeconds);

    int status() const { return m_status; }
    const QString &error() const { return m_error; }
    const QString &message() const { return m_message; }
    const QJsonObject &details() const { return m_details; }
    QJsonObject toJson() const;
    QByteArray toBody() const;

private:
    int m_status;
    QString m_error;
    QString m_message;
    QJsonObject m_details;
};
