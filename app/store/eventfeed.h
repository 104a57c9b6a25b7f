#pragma once

#include "databaseurl.h"
#include "orderevent.h"

#include <QAtomicInteger>
#include <QObject>
#include <QThread>
#include <QVector>

class EventFeedWorker;

// Every committed event of a database, whoever committed it, in position
// (commit) order: on PostgreSQL, LISTEN saga_events on a connection of its own in
// a thread of its own, and after each NOTIFY read the events after the last
// position seen (SagaStore::loadEventsAfterPosition). A lost connection is found
// by a periodic cheap query, then reconnected, re-subscribed and caught up from
// the last position, so the feed is gap-free across outages. SQLite has no
// notifications: the same periodic query (the newest position) is the feed,
// which then polls at its check interval, at most kSqlitePollMs (often enough
// for a live view of other programs on the same file).
//
// Lives in the caller's thread; signals arrive there (queued). The feed also
// delivers the events this process committed: readers dedupe by (orderId, seq)
// or position.
class EventFeed : public QObject
{
    Q_OBJECT
public:
    static constexpr int kSqlitePollMs = 250;

    EventFeed(const DatabaseUrl &url, int checkIntervalMs = 1000, int chunkSize = 1000, QObject *parent = nullptr);
    ~EventFeed() override; // stops the thread

    // Starts listening; the first batch holds the events after `afterPosition`.
    void start(qint64 afterPosition);
    bool isListening() const { return m_listening; }
    // PostgreSQL backend pid of the listening connection (0 while down).
    qint64 backendPid() const { return m_backendPid; }
    quint64 reconnects() const { return m_reconnects; }

Q_SIGNALS:
    void eventsArrived(const QVector<OrderEvent> &events);
    void listeningChanged(bool listening, const QString &reason);

private:
    QThread *m_thread = nullptr; // parentless: deleted by ~EventFeed, or once it has ended when a read still ran then
    EventFeedWorker *m_worker = nullptr; // lives in m_thread; deleted there when it finishes
    bool m_listening = false;
    bool m_everListened = false;
    qint64 m_backendPid = 0;
    quint64 m_reconnects = 0;
};
