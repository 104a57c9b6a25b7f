#pragma once

#include <QByteArray>
#include <QObject>
#include <QTimer>

class QTcpSocket;

// Watches one connection's incoming bytes before QHttpServer parses them
// (Qt 6.4 buffers a whole request body, and reserves Content-Length bytes up
// front, before a handler can refuse it). A request that announces a body over
// the limit, or keeps sending past it (chunked), gets 413 and the connection
// is closed after a short drain so the client can read the answer.
//
// Child of its socket; its readyRead slot is connected before QHttpServer's.
class ConnectionGuard : public QObject
{
    Q_OBJECT
public:
    ConnectionGuard(QTcpSocket *socket, qint64 maxBodyBytes);

    // The server dispatched a complete request: the next bytes start a new one.
    void requestDispatched();
    static ConnectionGuard *of(QTcpSocket *socket);

private:
    void onReadyRead();
    void reject(const QByteArray &traceparent);
    void drain();

    QTcpSocket *m_socket;
    qint64 m_maxBody;
    QByteArray m_head;     // bytes of the current request until its header end is seen
    bool m_headComplete = false;
    qint64 m_bodyBudget = 0; // bytes allowed after the header
    qint64 m_seen = 0;       // bytes seen since the request began
    bool m_rejected = false;
    QTimer m_lingerTimer;
};
