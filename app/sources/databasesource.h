#pragma once

#include "databaseurl.h"
#include "progresssource.h"
#include "storeerror.h"
#include "storejobs.h"

#include <QTimer>

class StoreReader;

// Reads a saga database directly (`--postgres URL`), read-only: its own
// SagaStore in its own thread (StoreReader). On PostgreSQL it LISTENs on
// `saga_events` and, after each NOTIFY, reads the events after the last global
// position it applied (notifications arriving meanwhile are coalesced).
//
// A lost connection is silent in QPSQL (no signal, and the subscription is
// gone), so a cheap query runs every second: when it fails the source turns
// Stale, reconnects with backoff, subscribes again and catches up from its
// position. The same check also catches anything a notification did not
// announce (and is the whole live mechanism on SQLite).
//
// A read that fails on a working connection (the tables dropped, the role's
// rights taken, a statement timeout) is retried the same way: the backoff grows
// until a load or catch-up succeeds, each retry checks the schema and rights
// again (SagaStore::checkSchema), and the banner names the problem. Before a
// catch-up the source checks that the event it saw last is still at its
// position; when it is not (a backup restored, another database in its place),
// it shows what the database holds now instead of a mix of both.
class DatabaseSource : public ProgressSource
{
    Q_OBJECT
public:
    explicit DatabaseSource(const DatabaseUrl &url, QObject *parent = nullptr);
    ~DatabaseSource() override;

    QString kindName() const override;
    QString location() const override;
    Capabilities capabilities() const override;

    void start() override;
    void stop() override;

    void loadCase(const QUuid &orderId, QObject *context,
                  std::function<void(OrderCase, QString error)> done) override;

    qint64 lastPosition() const { return m_lastPosition; }
    int reconnectCount() const { return m_reconnects; }
    int notificationCount() const { return m_notifications; }
    void setHealthCheckInterval(int ms);
    // A read that has not answered after `ms` (a frozen server or connection) turns
    // the source Stale with that said, until an answer comes.
    void setAnswerTimeout(int ms);
    // Which database is shown (SagaStore::databaseIdentity), once connected.
    QString databaseIdentity() const { return m_identity; }
    // The pause before the next retry while the database cannot be read: 0.5 s
    // after the first failure, doubling to 5 s; back to 0.5 s once a load or
    // catch-up succeeds.
    int retryDelayMs() const { return m_backoffMs; }

    bool isRunningForChunks() const { return m_running; }

private:
    void onOpened(const StoreError &error);
    void onListening(bool ok, const QString &error);
    void loadAll();
    void requestCatchUp();
    void healthCheck();
    // A (re)connect or read failed: say why (logged once while it stays the same),
    // and try again after the backoff.
    void connectionLost(const StoreError &error);
    // A load or catch-up succeeded: the outage (if any) is over, the backoff resets.
    void readSucceeded();
    void reconnect();
    // After a (re)connect: the same database as before, or another (reload all).
    void checkIdentity();
    // What was shown is not what the database holds now: drop it and load again.
    void reloadBecause(const QString &why);
    QString anotherDatabaseSentence() const;
    // Every job goes through these: m_busy, and the answer watchdog.
    void setBusy(bool busy);
    void answerOverdue();
    // The banner's sentence for `error`, by what went wrong.
    QString problemSentence(const StoreError &error) const;
    QString unreachableSentence(const QString &reason) const;

    DatabaseUrl m_url;
    StoreReader *m_reader = nullptr; // child
    QTimer m_healthTimer;
    QTimer m_answerTimer;          // runs while a job is out
    QString m_identity;            // of the database whose orders are shown
    int m_answerTimeoutMs = 15000;
    bool m_overdue = false;        // Stale because a job did not answer in time
    qint64 m_lastPosition = 0;
    StoreJobs::EventMark m_seen;   // the newest event shown whose position is known
    int m_healthIntervalMs = 1000;
    int m_backoffMs = 500;
    int m_reconnects = 0;
    int m_notifications = 0;
    bool m_running = false;
    bool m_connected = false;
    bool m_loaded = false;
    bool m_busy = false;           // a check, reconnect or catch-up job is queued
    bool m_catchUpPending = false; // a notification arrived while busy
    bool m_outage = false;         // a failure was logged and nothing read since
};
