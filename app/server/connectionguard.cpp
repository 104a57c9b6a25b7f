#include "connectionguard.h"

#include "apierror.h"
#include "httpreply.h"
#include "sagalog.h"
#include "tracecontext.h"

#include <QTcpSocket>

namespace {
constexpr qint64 kMaxHeaderBytes = 64 * 1024;
constexpr int kLingerMs = 2000;
} // namespace

ConnectionGuard::ConnectionGuard(QTcpSocket *socket, qint64 maxBodyBytes)
    : QObject(socket)
    , m_socket(socket)
    , m_maxBody(maxBodyBytes)
{
    setObjectName(QStringLiteral("saga.connectionGuard"));
    connect(socket, &QIODevice::readyRead, this, &ConnectionGuard::onReadyRead);
    m_lingerTimer.setSingleShot(true);
    connect(&m_lingerTimer, &QTimer::timeout, socket, &QAbstractSocket::abort);
}

ConnectionGuard *ConnectionGuard::of(QTcpSocket *socket)
{
    return socket ? socket->findChild<ConnectionGuard *>(QString(), Qt::FindDirectChildrenOnly) : nullptr;
}

quint64 ConnectionGuard::requestDispatched()
{
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
        const QByteArray fresh = m_socket->peek(qMin<qint64>(available, kMaxHeaderBytes));
        m_head.append(fresh);
        const qsizetype end = m_head.indexOf("\r\n\r\n");
        if (end < 0) {
            if (m_head.size() > kMaxHeaderBytes)
                reject({});
            return;
        }
        m_headComplete = true;
        m_bodyBudget = m_maxBody;
        QByteArray traceparent;
        const QList<QByteArray> lines = m_head.left(end).split('\n');
        for (const QByteArray &rawLine : lines) {
            const QByteArray line = rawLine.trimmed();
            const qsizetype colon = line.indexOf(':');
            if (colon <= 0)
                continue;
            const QByteArray name = line.left(colon).trimmed().toLower();
            const QByteArray value = line.mid(colon + 1).trimmed();
            if (name == "content-length") {
                bool ok = false;
                const qint64 length = value.toLongLong(&ok);
                if (!ok || length > m_maxBody) {
                    if (ok) {
                        reject(traceparent);
                        return;
                    }
                }
            } else if (name == "traceparent") {
                traceparent = value;
            }
        }
        m_bodyBudget = end + 4 + m_maxBody + 4096; // body plus chunk framing
        m_head.clear();
    }
    if (m_seen > m_bodyBudget + kMaxHeaderBytes)
        reject({});
}

void ConnectionGuard::reject(const QByteArray &traceparent)
{
    m_rejected = true;
    // Nothing of this connection reaches the HTTP server any more.
    disconnect(m_socket, &QIODevice::readyRead, nullptr, nullptr);
    connect(m_socket, &QIODevice::readyRead, this, &ConnectionGuard::drain);
    const TraceContext trace = TraceContext::continueOrStart(traceparent);
    const ApiError error = ApiError::payloadTooLarge(m_maxBody);
    qCInfo(lcServer).noquote() << "trace" << trace.traceId() << "413: request body over" << m_maxBody << "bytes";
    m_socket->write(HttpReply::build(413, "application/json", error.toBody(), trace.traceparent(), {}, true));
    m_socket->flush();
    drain();
    m_lingerTimer.start(kLingerMs);
}

void ConnectionGuard::drain()
{
    // Read and drop what the client still sends so it sees the 413 instead of a reset.
    m_socket->skip(m_socket->bytesAvailable());
}
