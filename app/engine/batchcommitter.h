#pragma once

// One of the engine's committers: a parentless worker QObject that the
// Orchestrator moves to its own QThread. It owns a SagaStore connection, opened in
// that thread. Woken by the orchestrator (run(), a queued call), it takes batches
// from the CommitFeed and commits each in one transaction, taking the next the
// moment one is done, until the feed is empty; the orchestrator keeps accepting
// step results and appending to the feed meanwhile (pipelining). Each batch is
// answered with reported(), queued back to the orchestrator's thread. On
// PostgreSQL the orchestrator runs two committers (two connections committing at
// the same time); their reports may interleave in either order.
//
// A batch the store refuses (Conflict / Invalid, e.g. a lost lease) is committed
// again one transition at a time so only the offending transitions are refused.
// When the database goes away the report says how many transitions are in doubt;
// the committer takes nothing more until the orchestrator has it reconnect().

#include "commitreport.h"
#include "databaseurl.h"
#include "storetransition.h"

class CommitFeed;

#include <QObject>
#include <QString>
#include <QVector>
#include <memory>

class SagaStore;

class BatchCommitter : public QObject
{
    Q_OBJECT
public:
    // `index` is this committer's number in `feed`.
    BatchCommitter(const DatabaseUrl &url, const QString &connectionName, const QString &leaseOwner, qint64 leaseMs,
                   std::shared_ptr<CommitFeed> feed, int index, qint64 clockSkewMs = 0);
    ~BatchCommitter() override;

    // These run in the committer's thread.
    StoreError open();
    StoreError reconnect();
    // Commits batches from the feed until it is empty (or the database is gone).
    void run();
    void close();

Q_SIGNALS:
    void reported(const CommitReport &report);

private:
    CommitReport commit(quint64 firstTicket, const QVector<StoreTransition> &batch);

    DatabaseUrl m_url;
    QString m_connectionName;
    QString m_leaseOwner;
    qint64 m_leaseMs = 0;
    bool m_broken = false; // the last call lost the connection: reconnect first
    std::unique_ptr<SagaStore> m_store;
    std::shared_ptr<CommitFeed> m_feed;
    int m_index = 0;
    qint64 m_clockSkewMs = 0; // EngineConfig::clockSkewMs
};
