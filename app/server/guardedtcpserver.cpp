#include "guardedtcpserver.h"

#include "connectionguard.h"

#include <QTcpSocket>

GuardedTcpServer::GuardedTcpServer(qint64 maxBodyBytes, int headTimeoutMs, QObject *parent)
    : QTcpServer(parent)
    , m_maxBody(maxBodyBytes)
    , m_headTimeoutMs(headTimeoutMs)
{
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
    new ConnectionGuard(socket, m_maxBody, m_headTimeoutMs);
    addPendingConnection(socket);
}
