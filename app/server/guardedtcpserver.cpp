#include "guardedtcpserver.h"

#include <QTcpSocket>

#include <algorithm>

#ifdef Q_OS_LINUX
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

namespace {
// A client whose host or network vanished sends no FIN: without these, an event
// stream to it (heartbeats unacknowledged) or a request waiting for its saga stays
// open for the kernel's ~15 minutes of retransmissions, holding a stream slot.
constexpr int kKeepAliveIdleSeconds = 30;
constexpr int kKeepAliveIntervalSeconds = 10;
constexpr int kKeepAliveProbes = 3;
constexpr int kUserTimeoutMs = 60000; // data unacknowledged this long: the connection is dropped

void detectVanishedPeers(qintptr descriptor)
{
#ifdef Q_OS_LINUX
    const int fd = int(descriptor);
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &kKeepAliveIdleSeconds, sizeof kKeepAliveIdleSeconds);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &kKeepAliveIntervalSeconds, sizeof kKeepAliveIntervalSeconds);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &kKeepAliveProbes, sizeof kKeepAliveProbes);
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &kUserTimeoutMs, sizeof kUserTimeoutMs);
#else
    Q_UNUSED(descriptor);
#endif
}
} // namespace

GuardedTcpServer::GuardedTcpServer(const ConnectionGuard::Limits &limits, QObject *parent)
    : QTcpServer(parent)
    , m_limits(limits)
{
    // A tenth of the shortest timeout (at most a second): a timeout is acted on
    // that much after it is due at the latest.
    int shortest = 1000 * 10;
    for (const int timeout : {limits.headTimeoutMs, limits.bodyTimeoutMs, limits.idleTimeoutMs}) {
        if (timeout > 0)
            shortest = std::min(shortest, timeout);
    }
    m_sweep.setInterval(std::clamp(shortest / 10, 10, 1000));
    connect(&m_sweep, &QTimer::timeout, this, &GuardedTcpServer::sweep);
}

void GuardedTcpServer::incomingConnection(qintptr socketDescriptor)
{
    // Owned by this server until the HTTP server takes it (nextPendingConnection)
    // and deletes it when the connection ends.
    auto *socket = new QTcpSocket(this);
    if (!socket->setSocketDescriptor(socketDescriptor)) {
        socket->deleteLater();
        return;
    }
    socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    detectVanishedPeers(socketDescriptor);
    // The guard is a child of the socket: it dies with it.
    auto *guard = new ConnectionGuard(socket, m_limits);
    m_guards.insert(guard);
    connect(guard, &QObject::destroyed, this, [this, guard] {
        m_guards.remove(guard);
        if (m_guards.isEmpty())
            m_sweep.stop();
    });
    if (!m_sweep.isActive())
        m_sweep.start();
    addPendingConnection(socket);
}

void GuardedTcpServer::sweep()
{
    const QList<ConnectionGuard *> guards = m_guards.values();
    for (ConnectionGuard *guard : guards) {
        if (m_guards.contains(guard)) // (not gone with one checked before it)
            guard->checkTimers();
    }
}
