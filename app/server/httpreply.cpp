#include "httpreply.h"

QByteArray HttpReply::reasonPhrase(int status)
{
    switch (status) {
    case 200: return QByteArrayLiteral("OK");
    case 201: return QByteArrayLiteral("Created");
    case 202: return QByteArrayLiteral("Accepted");
    case 204: return QByteArrayLiteral("No Content");
    case 400: return QByteArrayLiteral("Bad Request");
    case 401: return QByteArrayLiteral("Unauthorized");
    case 403: return QByteArrayLiteral("Forbidden");
    case 404: return QByteArrayLiteral("Not Found");
    case 405: return QByteArrayLiteral("Method Not Allowed");
    case 408: return QByteArrayLiteral("Request Timeout");
    case 409: return QByteArrayLiteral("Conflict");
    case 413: return QByteArrayLiteral("Payload Too Large");
    case 415: return QByteArrayLiteral("Unsupported Media Type");
    case 422: return QByteArrayLiteral("Unprocessable Content");
    case 429: return QByteArrayLiteral("Too Many Requests");
    case 431: return QByteArrayLiteral("Request Header Fields Too Large");
    case 500: return QByteArrayLiteral("Internal Server Error");
    case 501: return QByteArrayLiteral("Not Implemented");
    case 505: return QByteArrayLiteral("HTTP Version Not Supported");
    case 503: return QByteArrayLiteral("Service Unavailable");
    default: return QByteArrayLiteral("Status");
    }
}

namespace {
void appendHead(QByteArray &out, int status, const QByteArray &contentType,
                const QByteArray &traceparent, const HttpReply::Headers &extra)
{
    out.append("HTTP/1.1 ").append(QByteArray::number(status)).append(' ')
        .append(HttpReply::reasonPhrase(status)).append("\r\n");
    if (!contentType.isEmpty())
        out.append("Content-Type: ").append(contentType).append("\r\n");
    out.append("traceparent: ").append(traceparent).append("\r\n");
    for (const auto &header : extra)
        out.append(header.first).append(": ").append(header.second).append("\r\n");
}
} // namespace

QByteArray HttpReply::build(int status, const QByteArray &contentType, const QByteArray &body,
                            const QByteArray &traceparent, const Headers &extra, bool close)
{
    QByteArray out;
    out.reserve(160 + body.size() + 64 * extra.size());
    appendHead(out, status, contentType, traceparent, extra);
    if (status != 204) // (RFC 9110 §8.6: never on a 204)
        out.append("Content-Length: ").append(QByteArray::number(body.size())).append("\r\n");
    if (close)
        out.append("Connection: close\r\n");
    out.append("\r\n").append(body);
    return out;
}

QByteArray HttpReply::streamHead(int status, const QByteArray &contentType,
                                 const QByteArray &traceparent, const Headers &extra)
{
    QByteArray out;
    appendHead(out, status, contentType, traceparent, extra);
    out.append("Cache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n");
    return out;
}
