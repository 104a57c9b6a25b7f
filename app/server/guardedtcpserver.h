#pragma once

#include <QTcpServer>

// A QTcpServer that gives each accepted socket a ConnectionGuard before the
// HTTP server connects to it (so the guard sees the bytes first).
class GuardedTcpServer : public QTcpServer
{
    Q_OBJECT
public:
    GuardedTcpServer(qint64 maxBodyBytes, int headTimeoutMs, QObject *parent = nullptr);

protected:
    void incomingConnection(qintptr socketDescriptor) override;

private:
    qint64 m_maxBody;
    int m_headTimeoutMs;
};
