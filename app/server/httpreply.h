#pragma once

#include <QByteArray>
#include <QList>
#include <QPair>

// Builds the bytes of one HTTP/1.1 response (status line, headers, body) so a
// reply leaves in a single socket write.
class HttpReply
{
public:
    using Headers = QList<QPair<QByteArray, QByteArray>>;

    static QByteArray reasonPhrase(int status);
    // Content-Length is always set. `close` adds "Connection: close".
    static QByteArray build(int status, const QByteArray &contentType, const QByteArray &body,
                            const QByteArray &traceparent, const Headers &extra = {},
                            bool close = false);
    // Status line and headers of a stream whose body runs until the connection closes.
    static QByteArray streamHead(int status, const QByteArray &contentType,
                                 const QByteArray &traceparent, const Headers &extra = {});
};
