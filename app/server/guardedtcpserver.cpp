#include "guardedtcpserver.h"

#include <QTcpSocket>

#include <algorithm>

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
