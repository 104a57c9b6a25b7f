#pragma once

#include "connectionguard.h"

#include <QSet>
#include <QTcpServer>
#include <QTimer>

// A QTcpServer that gives each accepted socket a ConnectionGuard before the
// HTTP server connects to it (so the guard sees the bytes first), and checks
// the guards' timers (head, body, idle) a few times a second: one timer for
// every connection instead of one per request.
class GuardedTcpServer : public QTcpServer
{
    Q_OBJECT
public:
    explicit GuardedTcpServer(const ConnectionGuard::Limits &limits, QObject *parent = nullptr);

protected:
    void incomingConnection(qintptr socketDescriptor) override;

private:
    void sweep();

    ConnectionGuard::Limits m_limits;
    QSet<ConnectionGuard *> m_guards;
    QTimer m_sweep;
};
