#include "connectionguard.h"

#include "apierror.h"
#include "httpreply.h"
#include "httptext.h"
#include "sagalog.h"
#include "tracecontext.h"

#include <QTcpSocket>

#ifdef Q_OS_UNIX
#include <sys/socket.h>
#endif

namespace {
constexpr qint64 kMaxHeaderBytes = 64 * 1024;
constexpr int kLingerMs = 2000;
} // namespace

ConnectionGuard::ConnectionGuard(QTcpSocket *socket, qint64 maxBodyBytes, int headTimeoutMs)
    : QObject(socket)
    , m_socket(socket)
    , m_maxBody(maxBodyBytes)
{
    setObjectName(QStringLiteral("saga.connectionGuard"));
    connect(socket, &QIODevice::readyRead, this, &ConnectionGuard::onReadyRead);
    m_lingerTimer.setSingleShot(true);
    connect(&m_lingerTimer, &QTimer::timeout, socket, &QAbstractSocket::abort);
    m_headTimer.setSingleShot(true);
    m_headTimer.setInterval(headTimeoutMs);
    connect(&m_headTimer, &QTimer::timeout, this, [this] {
        if (!m_headComplete && !m_rejected)
            reject(ApiError(408, QStringLiteral("REQUEST_TIMEOUT"),
                            QStringLiteral("The request head did not arrive within %1 s.")
                                .arg(m_headTimer.interval() / 1000.0)),
                   {});
    });
    m_headTimer.start(); // the first request's head is due from the start
}

ConnectionGuard *ConnectionGuard::of(QTcpSocket *socket)
{
    return socket ? socket->findChild<ConnectionGuard *>(QString(), Qt::FindDirectChildrenOnly) : nullptr;
}

quint64 ConnectionGuard::requestDispatched()
{
    m_headTimer.stop(); // its head was complete (also when this guard did not see its end)
    m_head.clear();
    m_headComplete = false;
    m_bodyBudget = 0;
    m_seen = 0;
    return m_nextNumber++;
}

void ConnectionGuard::respond(quint64 number, const QByteArray &bytes, bool close)
{
    if (number < m_nextToWrite || m_ready.count(number) != 0)
        return; // answered already
    m_ready.emplace(number, Ready{bytes, close});
    while (!m_ready.empty() && m_ready.begin()->first == m_nextToWrite) {
        auto node = m_ready.extract(m_ready.begin());
        ++m_nextToWrite;
        if (m_socket->state() != QAbstractSocket::ConnectedState)
            continue;
        m_socket->write(node.mapped().bytes);
        if (node.mapped().close) {
            m_ready.clear();
            m_socket->disconnectFromHost();
            return;
        }
    }
}

void ConnectionGuard::onReadyRead()
{
    if (m_rejected) {
        drain();
        return;
    }
    const qint64 available = m_socket->bytesAvailable();
    m_seen += available;
    if (!m_headComplete) {
        if (m_head.isEmpty() && !m_headTimer.isActive())
            m_headTimer.start(); // a new request's first bytes
        // One byte past the limit, so a head over it is seen even when it all
        // arrives in one read (QHttpServer reads everything after this slot).
        const QByteArray fresh = m_socket->peek(qMin<qint64>(available, kMaxHeaderBytes + 1 - m_head.size()));
        m_head.append(fresh);
        // The head ends at an empty line; a bare LF ends a line too (RFC 9112 2.2,
        // and QHttpServer's parser takes it).
        qsizetype end = m_head.indexOf("\r\n\r\n");
        qsizetype endLength = 4;
        if (const qsizetype bare = m_head.indexOf("\n\n"); bare >= 0 && (end < 0 || bare < end)) {
            end = bare;
            endLength = 2;
        }
        if (end < 0) {
            if (m_head.size() > kMaxHeaderBytes)
                reject(ApiError(431, QStringLiteral("HEADERS_TOO_LARGE"),
                                QStringLiteral("The request head is over %1 KiB.").arg(kMaxHeaderBytes / 1024)),
                       {});
            return;
        }
        m_headComplete = true;
        m_headTimer.stop();
        if (!acceptHead(m_head.left(end)))
            return;
        m_bodyBudget = end + endLength + m_maxBody + 4096; // body plus chunk framing
        m_head.clear();
    }
    if (m_seen > m_bodyBudget + kMaxHeaderBytes)
        reject(ApiError::payloadTooLarge(m_maxBody), {});
}

bool ConnectionGuard::acceptHead(const QByteArray &head)
{
    QByteArray traceparent;
    QList<QByteArray> lengths;
    QList<QByteArray> codings;
    bool keepAlive = false;
    const QList<QByteArray> lines = head.split('\n');
    for (const QByteArray &rawLine : lines) {
        const QByteArray line = rawLine.trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            continue;
        const QByteArray name = line.left(colon).trimmed().toLower();
        const QByteArray value = line.mid(colon + 1).trimmed();
        if (name == "content-length")
            lengths.append(value);
        else if (name == "transfer-encoding")
            codings.append(value.toLower());
        else if (name == "traceparent")
            traceparent = value;
        else if (name == "connection")
            keepAlive = keepAlive || value.toLower().contains("keep-alive");
    }
    // METHOD SP TARGET SP HTTP/1.x: anything else would be dropped without an answer.
    const QList<QByteArray> requestLine = lines.first().trimmed().split(' ');
    if (requestLine.size() != 3 || requestLine[0].isEmpty() || requestLine[1].isEmpty()
        || !requestLine[2].startsWith("HTTP/")) {
        reject(ApiError(400, QStringLiteral("BAD_REQUEST_LINE"),
                        QStringLiteral("The request line must be METHOD TARGET HTTP/1.1, with spaces in the target "
                                       "percent-encoded.")),
               traceparent);
        return false;
    }
    if (requestLine[2] != "HTTP/1.1" && requestLine[2] != "HTTP/1.0") {
        reject(ApiError(505, QStringLiteral("HTTP_VERSION_NOT_SUPPORTED"),
                        QStringLiteral("This server speaks HTTP/1.1 (and 1.0).")),
               traceparent);
        return false;
    }
    // This head is the next request to be dispatched (the guard looks at a head
    // only once the one before it was dispatched).
    if (requestLine[2] == "HTTP/1.0" && !keepAlive)
        m_http10Request = m_nextNumber;
    for (const QByteArray &coding : std::as_const(codings)) {
        if (coding != "chunked") {
            reject(ApiError(501, QStringLiteral("NOT_IMPLEMENTED"),
                            QStringLiteral("Transfer-Encoding %1 is not understood; send the body plain or chunked.")
                                .arg(QString::fromLatin1(coding.left(100)))),
                   traceparent);
            return false;
        }
    }
    if (lengths.isEmpty())
        return true;
    if (!codings.isEmpty()) {
        reject(ApiError(400, QStringLiteral("AMBIGUOUS_FRAMING"),
                        QStringLiteral("Send either Content-Length or Transfer-Encoding, not both.")),
               traceparent);
        return false;
    }
    const QByteArray &first = lengths.first();
    if (!isDecimalNumber(first, 18) || lengths.count(first) != lengths.size()) {
        reject(ApiError(400, QStringLiteral("INVALID_CONTENT_LENGTH"),
                        QStringLiteral("Content-Length must be one number of bytes.")),
               traceparent);
        return false;
    }
    if (first.toLongLong() > m_maxBody) {
        reject(ApiError::payloadTooLarge(m_maxBody), traceparent);
        return false;
    }
    return true;
}

void ConnectionGuard::reject(const ApiError &error, const QByteArray &traceparent)
{
    m_rejected = true;
    m_headTimer.stop();
    // Nothing of this connection reaches the HTTP server any more.
    disconnect(m_socket, &QIODevice::readyRead, nullptr, nullptr);
    connect(m_socket, &QIODevice::readyRead, this, &ConnectionGuard::drain);
    const TraceContext trace = TraceContext::continueOrStart(traceparent);
    qCInfo(lcServer).noquote() << "trace" << trace.traceId() << error.status() << error.error()
                               << "(connection closed):" << error.message();
    m_socket->write(HttpReply::build(error.status(), "application/json", error.toBody(), trace.traceparent(), {}, true));
    m_socket->flush();
    drain();
    // Lingering close: end the answer with a FIN but keep reading (and dropping)
    // what the client still sends, so it reads the answer instead of a reset; it
    // closes its side on the FIN, or the linger timer aborts the connection.
    if (m_socket->bytesToWrite() == 0)
        finishWriting();
    else
        connect(m_socket, &QIODevice::bytesWritten, this, [this] {
            if (m_socket->bytesToWrite() == 0)
                finishWriting();
        });
    m_lingerTimer.start(kLingerMs);
}

void ConnectionGuard::finishWriting()
{
#ifdef Q_OS_UNIX
    if (m_socket->socketDescriptor() != -1)
        ::shutdown(int(m_socket->socketDescriptor()), SHUT_WR);
#endif
}

void ConnectionGuard::drain()
{
    // Read and drop what the client still sends so it sees the 413 instead of a reset.
    m_socket->skip(m_socket->bytesAvailable());
}
