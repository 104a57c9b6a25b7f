#pragma once

#include "databaseurl.h"
#include "orderevent.h"

#include <QObject>
#include <QTimer>
#include <QVector>
#include <memory>

class SagaStore;

// The thread side of EventFeed (a parentless QObject moved to the feed's
// thread). Owns one SagaStore connection, LISTENs on `saga_events` and, after
// each notification (coalesced per event-loop turn), reads every event after the
// last position it has seen, in position (commit) order, in chunks.
//
// A lost PostgreSQL connection signals nothing and takes the subscription with
// it, so a cheap periodic query (the counter row) checks the connection; on
// failure the worker reconnects, subscribes again and catches up from the last
// position seen. The same check also catches up when the counter moved without a
// notification (one that was lost), so no committed event is ever skipped.
class EventFeedWorker : public QObject
{
    Q_OBJECT
public:
    EventFeedWorker(const DatabaseUrl &url, const QString &connectionName, int checkIntervalMs, int chunkSize);
    ~EventFeedWorker() override;

    // Both run in the worker's thread (queued from EventFeed).
    void start(qint64 afterPosition);
    void stop();

Q_SIGNALS:
    // Events committed after the previous batch, in position order, gap-free.
    void eventsRead(const QVector<OrderEvent> &events);
    // Connected and listening (with the backend pid), or the connection was lost.
    void listening(bool up, qint64 backendPid, const QString &reason);

private:
    bool connectAndListen();
    bool readStartPosition();
    void scheduleCatchUp();
    void catchUp();
    void check();
    void lost(const QString &reason);

    DatabaseUrl m_url;
    QString m_connectionName;
    int m_chunkSize;
    std::unique_ptr<SagaStore> m_store;
    std::unique_ptr<QTimer> m_check; // made in start(), in the worker's thread
    int m_checkIntervalMs;
    QMetaObject::Connection m_notificationConnection;
    qint64 m_position = 0;
    bool m_up = false;
    bool m_catchUpQueued = false;
    bool m_stopped = false;
};
