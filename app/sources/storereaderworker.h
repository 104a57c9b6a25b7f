#pragma once

#include "databaseurl.h"
#include "storeerror.h"

#include <QObject>
#include <functional>
#include <memory>

class SagaStore;
class QSqlDriver;

// The part of StoreReader that lives in the reader's thread: owns the SagaStore
// (and with it the named QSqlDatabase connection) and the NOTIFY subscription.
class StoreReaderWorker : public QObject
{
    Q_OBJECT
public:
    StoreReaderWorker(const DatabaseUrl &url, const QString &connectionName);
    ~StoreReaderWorker() override;

    void open();
    void runJob(const std::function<void(SagaStore &)> &job);
    void listen(const QString &channel);

Q_SIGNALS:
    void opened(const StoreError &error); // none: open
    void listening(bool ok, const QString &error);
    void notified(const QString &channel, const QString &payload);

private:
    DatabaseUrl m_url;
    QString m_connectionName;
    std::unique_ptr<SagaStore> m_store;
    QMetaObject::Connection m_notificationConnection;
};
