#include "sagastore.h"

#include "sagalog.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlField>
#include <QSqlQuery>
#include <QSqlRecord>
#include <QStringBuilder>

#include <map>
#include <set>

// Storage notes: every timestamp is stored as milliseconds since the Unix epoch
// (UTC) in a BIGINT/INTEGER column, ids as text (UUID without braces), event
// details as JSON text (JSONB on PostgreSQL). Batches are written with a few
// multi-row statements whose literals are escaped by the Qt SQL driver itself
// (QSqlDriver::formatValue), so a batch costs the same number of round trips
// whatever its size.

namespace {

QString idText(const QUuid &id)
{
    return id.toString(QUuid::WithoutBraces);
}

QDateTime fromMs(const QVariant &v)
{
    if (v.isNull())
        return {};
    return QDateTime::fromMSecsSinceEpoch(v.toLongLong(), Qt::UTC);
}

qint64 toMs(const QDateTime &dt)
{
    return dt.isValid() ? dt.toMSecsSinceEpoch() : QDateTime::currentMSecsSinceEpoch();
}

const QString kActiveStatuses = QStringLiteral("('QUEUED','IN_PROGRESS','ROLLING_BACK')");

bool isTerminalOverall(OverallStatus s)
{
    return s == OverallStatus::Completed || s == OverallStatus::Failed || s == OverallStatus::RolledBack;
}

QString outcomeFor(OverallStatus s)
{
    switch (s) {
    case OverallStatus::Completed:
        return QStringLiteral("SUCCESS");
    case OverallStatus::RolledBack:
        return QStringLiteral("COMPENSATED");
    case OverallStatus::Failed:
        return QStringLiteral("FAILED");
    default:
        return QStringLiteral("IN_PROGRESS");
    }
}

QString overallText(OverallStatus s)
{
    switch (s) {
    case OverallStatus::Queued: return QStringLiteral("QUEUED");
    case OverallStatus::InProgress: return QStringLiteral("IN_PROGRESS");
    case OverallStatus::Completed: return QStringLiteral("COMPLETED");
    case OverallStatus::Failed: return QStringLiteral("FAILED");
    case OverallStatus::RollingBack: return QStringLiteral("ROLLING_BACK");
    case OverallStatus::RolledBack: return QStringLiteral("ROLLED_BACK");
    }
    return {};
}

QString recordText(OverallStatus s)
{
    switch (s) {
    case OverallStatus::Queued: return QStringLiteral("PENDING");
    case OverallStatus::InProgress: return QStringLiteral("PROCESSING");
    case OverallStatus::Completed: return QStringLiteral("COMPLETED");
    case OverallStatus::Failed: return QStringLiteral("FAILED");
    case OverallStatus::RollingBack: return QStringLiteral("COMPENSATING");
    case OverallStatus::RolledBack: return QStringLiteral("COMPENSATED");
    }
    return {};
}

QString stepStatusText(StepStatus s)
{
    switch (s) {
    case StepStatus::Pending: return QStringLiteral("PENDING");
    case StepStatus::InProgress: return QStringLiteral("IN_PROGRESS");
    case StepStatus::Completed: return QStringLiteral("COMPLETED");
    case StepStatus::Failed: return QStringLiteral("FAILED");
    case StepStatus::Compensating: return QStringLiteral("COMPENSATING");
    case StepStatus::Compensated: return QStringLiteral("COMPENSATED");
    case StepStatus::Skipped: return QStringLiteral("SKIPPED");
    }
    return {};
}

std::optional<OverallStatus> overallFromText(const QString &t)
{
    for (int i = 0; i < kOverallStatusCount; ++i) {
        if (overallText(OverallStatus(i)) == t)
            return OverallStatus(i);
    }
    return std::nullopt;
}

// A PostgreSQL array literal of text elements ({"a","b"}; "" stays an empty
// string, so callers map it with NULLIF where NULL is meant). The caller passes it
// as one escaped string literal and casts it (text[], bigint[], jsonb[] ...).
QString pgArray(const QStringList &values)
{
    QString out;
    qsizetype size = 2;
    for (const QString &v : values)
        size += v.size() + 3;
    out.reserve(size);
    out += QLatin1Char('{');
    for (qsizetype i = 0; i < values.size(); ++i) {
        if (i > 0)
            out += QLatin1Char(',');
        out += QLatin1Char('"');
        for (const QChar ch : values[i]) {
            if (ch == QLatin1Char('"') || ch == QLatin1Char('\\'))
                out += QLatin1Char('\\');
            out += ch;
        }
        out += QLatin1Char('"');
    }
    out += QLatin1Char('}');
    return out;
}

QString eventDetailsJson(const OrderEvent &e)
{
    QJsonObject d = e.details;
    if (!e.error.isNull())
        d.insert(QStringLiteral("error"),
                 QJsonObject{{QStringLiteral("code"), e.error.code}, {QStringLiteral("message"), e.error.message}});
    return QString::fromUtf8(QJsonDocument(d).toJson(QJsonDocument::Compact));
}

} // namespace

struct SagaStore::Private {
    DatabaseUrl url;
    QString connectionName;
    bool opened = false;

    QSqlDatabase db() const { return QSqlDatabase::database(connectionName, false); }
    bool pg() const { return url.isPostgres(); }

    StoreError classify(const QSqlError &e, const QString &what) const
    {
        StoreError err;
        err.message = what + QStringLiteral(": ") + e.text();
        const QString code = e.nativeErrorCode();
        const QString text = e.text().toLower();
        // (QSQLITE reports statement failures as ConnectionError: only trust it for QPSQL.)
        const bool connectionLost = (pg() && e.type() == QSqlError::ConnectionError) || !db().isOpen()
            || code.startsWith(QLatin1String("08")) || code.startsWith(QLatin1String("57P"))
            || text.contains(QLatin1String("server closed the connection"))
            || text.contains(QLatin1String("no connection to the server"))
            || text.contains(QLatin1String("terminating connection"))
            || text.contains(QLatin1String("could not connect"))
            || text.contains(QLatin1String("connection to server"))
            || text.contains(QLatin1String("could not send data"))
            || text.contains(QLatin1String("unable to begin transaction"));
        bool sqliteTransient = false;
        if (!pg()) {
            const int c = code.toInt() & 0xff;
            sqliteTransient = c == 5 /*BUSY*/ || c == 6 /*LOCKED*/ || c == 10 /*IOERR*/ || c == 14 /*CANTOPEN*/
                || c == 13 /*FULL*/;
        }
        if (connectionLost || sqliteTransient)
            err.kind = StoreError::Unavailable;
        else if (code == QLatin1String("23505") || (!pg() && (code.toInt() & 0xff) == 19))
            err.kind = StoreError::Conflict;
        else
            err.kind = StoreError::Invalid;
        return err;
    }

    // Escaped SQL literal of `v` produced by the driver.
    QString lit(const QVariant &v) const
    {
        if (!v.isValid() || v.isNull())
            return QStringLiteral("NULL");
        QSqlField f(QString(), v.metaType());
        f.setValue(v);
        return db().driver()->formatValue(f);
    }
    QString lit(const QString &s) const { return s.isNull() ? QStringLiteral("NULL") : lit(QVariant(s)); }
    QString lit(qint64 n) const { return QString::number(n); }

    StoreError run(QSqlQuery &q, const QString &sql, const QString &what) const
    {
        if (!q.exec(sql))
            return classify(q.lastError(), what);
        return {};
    }
    StoreError exec(const QString &sql, const QString &what) const
    {
        QSqlQuery q(db());
        return run(q, sql, what);
    }
    StoreError begin() const
    {
        return exec(pg() ? QStringLiteral("BEGIN") : QStringLiteral("BEGIN IMMEDIATE"), QStringLiteral("begin"));
    }
    StoreError commit() const { return exec(QStringLiteral("COMMIT"), QStringLiteral("commit")); }
    void rollback() const
    {
        if (!db().isOpen())
            return;
        QSqlQuery q(db());
        q.exec(QStringLiteral("ROLLBACK"));
    }

    StoreError notOpen() const
    {
        return StoreError{StoreError::Unavailable, QStringLiteral("database connection is not open")};
    }

    OrderEvent eventFromQuery(const QSqlQuery &q) const
    {
        // columns: order_id, seq, position, event_type, step_name, details, created_at
        OrderEvent e;
        e.orderId = QUuid::fromString(q.value(0).toString());
        e.seq = q.value(1).toLongLong();
        e.position = q.value(2).toLongLong();
        e.type = eventTypeFromString(q.value(3).toString()).value_or(EventType::SagaStarted);
        const QString stepName = q.value(4).toString();
        if (!stepName.isEmpty())
            e.step = stepFromName(stepName);
        QJsonObject d = QJsonDocument::fromJson(q.value(5).toString().toUtf8()).object();
        if (d.contains(QStringLiteral("error"))) {
            const QJsonObject err = d.take(QStringLiteral("error")).toObject();
            e.error.code = err.value(QStringLiteral("code")).toString();
            e.error.message = err.value(QStringLiteral("message")).toString();
        }
        e.details = d;
        e.timestamp = fromMs(q.value(6));
        return e;
    }

    StoreError migrate() const;
};

static const char kEventColumns[] = "order_id, seq, position, event_type, step_name, details, created_at";

SagaStore::SagaStore(const DatabaseUrl &url, const QString &connectionName)
    : d(std::make_unique<Private>())
{
    d->url = url;
    d->connectionName = connectionName;
    QSqlDatabase db = QSqlDatabase::addDatabase(url.driverName(), connectionName);
    if (url.isPostgres()) {
        db.setHostName(url.host);
        db.setPort(url.port);
        db.setDatabaseName(url.database);
        db.setUserName(url.user);
        db.setPassword(url.password);
        db.setConnectOptions(QStringLiteral("connect_timeout=5"));
    } else {
        db.setDatabaseName(url.path);
        db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=10000"));
    }
}

SagaStore::~SagaStore()
{
    {
        QSqlDatabase db = d->db();
        if (db.isOpen())
            db.close();
    }
    QSqlDatabase::removeDatabase(d->connectionName);
}

const DatabaseUrl &SagaStore::url() const
{
    return d->url;
}

bool SagaStore::isOpen() const
{
    return d->opened && d->db().isOpen();
}

StoreError SagaStore::open()
{
    QSqlDatabase db = d->db();
    if (!d->url.isPostgres()) {
        const QFileInfo info(d->url.path);
        QDir().mkpath(info.absolutePath());
    }
    if (!db.isOpen() && !db.open()) {
        StoreError err = d->classify(db.lastError(), QStringLiteral("open %1").arg(d->url.toString()));
        err.kind = StoreError::Unavailable;
        return err;
    }
    if (!d->url.isPostgres()) {
        for (const QString &pragma : {QStringLiteral("PRAGMA journal_mode=WAL"),
                                      QStringLiteral("PRAGMA synchronous=FULL"),
                                      QStringLiteral("PRAGMA busy_timeout=10000"),
                                      QStringLiteral("PRAGMA foreign_keys=ON")}) {
            if (StoreError e = d->exec(pragma, QStringLiteral("configure sqlite")))
                return e;
        }
    } else {
        // Commit durability is the server's setting; do not weaken it here.
        d->exec(QStringLiteral("SET application_name = 'saga-console'"), QStringLiteral("configure"));
        d->exec(QStringLiteral("SET client_min_messages = warning"), QStringLiteral("configure"));
    }
    if (StoreError e = d->migrate())
        return e;
    d->opened = true;
    return {};
}

StoreError SagaStore::reconnect()
{
    QSqlDatabase db = d->db();
    if (db.isOpen()) {
        QSqlQuery q(db);
        if (q.exec(QStringLiteral("SELECT 1")))
            return {};
        db.close();
    }
    if (!db.open()) {
        StoreError err = d->classify(db.lastError(), QStringLiteral("reconnect %1").arg(d->url.toString()));
        err.kind = StoreError::Unavailable;
        return err;
    }
    if (!d->url.isPostgres()) {
        d->exec(QStringLiteral("PRAGMA synchronous=FULL"), QStringLiteral("configure"));
        d->exec(QStringLiteral("PRAGMA busy_timeout=10000"), QStringLiteral("configure"));
        d->exec(QStringLiteral("PRAGMA foreign_keys=ON"), QStringLiteral("configure"));
    }
    d->opened = true;
    return {};
}

StoreError SagaStore::Private::migrate() const
{
    const QString dirPath = pg() ? QStringLiteral(":/sql/postgres") : QStringLiteral(":/sql/sqlite");
    const QStringList files = QDir(dirPath).entryList({QStringLiteral("*.sql")}, QDir::Files, QDir::Name);
    if (files.isEmpty())
        return StoreError{StoreError::Invalid, QStringLiteral("no migrations found under %1").arg(dirPath)};

    if (StoreError e = begin())
        return e;
    auto failed = [this](StoreError e) {
        rollback();
        return e;
    };
    if (pg()) {
        if (StoreError e = exec(QStringLiteral("SELECT pg_advisory_xact_lock(72611)"), QStringLiteral("migration lock")))
            return failed(e);
    }
    if (StoreError e = exec(QStringLiteral("CREATE TABLE IF NOT EXISTS schema_version ("
                                           "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"),
                            QStringLiteral("create schema_version")))
        return failed(e);
    QSqlQuery q(db());
    if (StoreError e = run(q, QStringLiteral("SELECT COALESCE(MAX(version), 0) FROM schema_version"),
                           QStringLiteral("read schema_version")))
        return failed(e);
    const int current = q.next() ? q.value(0).toInt() : 0;
    for (const QString &file : files) {
        const int version = file.section(QLatin1Char('_'), 0, 0).toInt();
        if (version <= current)
            continue;
        QFile f(dirPath + QLatin1Char('/') + file);
        if (!f.open(QIODevice::ReadOnly))
            return failed(StoreError{StoreError::Invalid, QStringLiteral("cannot read migration %1").arg(file)});
        const QString script = QString::fromUtf8(f.readAll());
        // Statements end with ';' at the end of a line; comments are whole lines.
        QStringList lines;
        const QStringList all = script.split(QLatin1Char('\n'));
        for (const QString &line : all) {
            if (!line.trimmed().startsWith(QLatin1String("--")))
                lines << line;
        }
        const QStringList statements = lines.join(QLatin1Char('\n')).split(QLatin1String(";\n"));
        for (const QString &statement : statements) {
            QString sql = statement.trimmed();
            if (sql.endsWith(QLatin1Char(';')))
                sql.chop(1);
            if (sql.isEmpty())
                continue;
            if (StoreError e = exec(sql, QStringLiteral("migration %1").arg(file)))
                return failed(e);
        }
        if (StoreError e = exec(QStringLiteral("INSERT INTO schema_version (version, name, applied_at) VALUES (%1, %2, %3)")
                                    .arg(version)
                                    .arg(lit(file))
                                    .arg(QDateTime::currentMSecsSinceEpoch()),
                                QStringLiteral("record migration")))
            return failed(e);
        qCInfo(lcStore) << "applied migration" << file;
    }
    return commit();
}

// ---- reads ------------------------------------------------------------------

StoreResult<OrderRecord> SagaStore::loadOrder(const QUuid &orderId)
{
    StoreResult<OrderRecord> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    const QString sql = QStringLiteral(
        "SELECT id, order_number, customer_id, status, payment_method_id, ship_street, ship_city, ship_state, "
        "ship_postal_code, ship_country, total_in_cents, confirmation_number, total_charged_in_cents, "
        "estimated_delivery, trace_id, created_at, updated_at FROM orders WHERE id = %1")
                            .arg(d->lit(idText(orderId)));
    if ((r.error = d->run(q, sql, QStringLiteral("load order"))))
        return r;
    if (!q.next()) {
        r.error = StoreError{StoreError::NotFound, QStringLiteral("order not found")};
        return r;
    }
    OrderRecord &o = r.value;
    o.id = QUuid::fromString(q.value(0).toString());
    o.orderNumber = q.value(1).toString();
    o.customerId = QUuid::fromString(q.value(2).toString());
    o.status = orderRecordStatusFromString(q.value(3).toString()).value_or(OrderRecordStatus::Pending);
    o.paymentMethodId = q.value(4).toString();
    o.shippingAddress = ShippingAddress{q.value(5).toString(), q.value(6).toString(), q.value(7).toString(),
                                        q.value(8).toString(), q.value(9).toString()};
    o.totalInCents = q.value(10).toLongLong();
    o.confirmationNumber = q.value(11).toString();
    o.totalChargedInCents = q.value(12).isNull() ? -1 : q.value(12).toLongLong();
    o.estimatedDelivery = q.value(13).toString();
    o.traceId = q.value(14).toString();
    o.createdAt = fromMs(q.value(15));
    o.updatedAt = fromMs(q.value(16));
    QSqlQuery items(d->db());
    if ((r.error = d->run(items,
                          QStringLiteral("SELECT product_id, product_name, quantity, unit_price_in_cents FROM order_items "
                                         "WHERE order_id = %1 ORDER BY line_no")
                              .arg(d->lit(idText(orderId))),
                          QStringLiteral("load order items"))))
        return r;
    while (items.next())
        o.items.append(OrderItem{items.value(0).toString(), items.value(1).toString(), items.value(2).toInt(),
                                 items.value(3).toLongLong()});
    return r;
}

StoreResult<QVector<OrderEvent>> SagaStore::loadEvents(const QUuid &orderId, qint64 afterSeq)
{
    StoreResult<QVector<OrderEvent>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    q.setForwardOnly(true);
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT %1 FROM order_events WHERE order_id = %2 AND seq > %3 ORDER BY seq")
                              .arg(QLatin1String(kEventColumns), d->lit(idText(orderId)))
                              .arg(afterSeq),
                          QStringLiteral("load events"))))
        return r;
    while (q.next())
        r.value.append(d->eventFromQuery(q));
    return r;
}

StoreResult<QVector<OrderEvent>> SagaStore::loadEventsAfterPosition(qint64 afterPosition, int limit)
{
    StoreResult<QVector<OrderEvent>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    q.setForwardOnly(true);
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT %1 FROM order_events WHERE position > %2 ORDER BY position LIMIT %3")
                              .arg(QLatin1String(kEventColumns))
                              .arg(afterPosition)
                              .arg(qBound(1, limit, 100000)),
                          QStringLiteral("load events after position"))))
        return r;
    while (q.next())
        r.value.append(d->eventFromQuery(q));
    return r;
}

qint64 SagaStore::lastPosition(StoreError *error)
{
    if (!isOpen()) {
        if (error)
            *error = d->notOpen();
        return 0;
    }
    QSqlQuery q(d->db());
    StoreError e = d->run(q, QStringLiteral("SELECT last_position FROM saga_counters WHERE id = 1"),
                          QStringLiteral("read last position"));
    if (error)
        *error = e;
    if (e || !q.next())
        return 0;
    return q.value(0).toLongLong();
}

StoreResult<OrderProgress> SagaStore::loadProgress(const QUuid &orderId)
{
    StoreResult<OrderProgress> r;
    auto events = loadEvents(orderId, 0);
    if (!events.ok()) {
        r.error = events.error;
        return r;
    }
    if (events.value.isEmpty()) {
        r.error = StoreError{StoreError::NotFound, QStringLiteral("order not found")};
        return r;
    }
    r.value = OrderProgress(orderId);
    for (const OrderEvent &e : std::as_const(events.value)) {
        const FoldResult f = r.value.apply(e);
        if (f.outcome == FoldResult::Rejected)
            qCWarning(lcStore) << "stored event rejected by the fold" << idText(orderId) << e.seq << f.error;
    }
    return r;
}

StoreResult<OrderListPage> SagaStore::listOrders(const OrderListFilter &filter)
{
    StoreResult<OrderListPage> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    const int limit = qBound(1, filter.limit, 1000);
    QStringList where;
    if (filter.status)
        where << QStringLiteral("overall_status = %1").arg(d->lit(overallText(*filter.status)));
    if (!filter.query.trimmed().isEmpty()) {
        QString qtext = filter.query.trimmed().toLower();
        qtext.remove(QLatin1Char('%')).remove(QLatin1Char('_')).remove(QLatin1Char('\\'));
        where << QStringLiteral("(lower(id) LIKE %1 OR lower(order_number) LIKE %2 OR lower(customer_id) LIKE %1)")
                     .arg(d->lit(qtext + QLatin1Char('%')), d->lit(QLatin1Char('%') + qtext + QLatin1Char('%')));
    }
    if (!filter.after.isEmpty()) {
        const qint64 createdAt = filter.after.section(QLatin1Char('_'), 0, 0).toLongLong();
        const QString id = filter.after.section(QLatin1Char('_'), 1);
        where << QStringLiteral("(created_at < %1 OR (created_at = %1 AND id < %2))").arg(createdAt).arg(d->lit(id));
    }
    QSqlQuery q(d->db());
    q.setForwardOnly(true);
    const QString sql = QStringLiteral("SELECT id, created_at FROM orders %1 ORDER BY created_at DESC, id DESC LIMIT %2")
                            .arg(where.isEmpty() ? QString() : QStringLiteral("WHERE ") + where.join(QLatin1String(" AND ")))
                            .arg(limit + 1);
    if ((r.error = d->run(q, sql, QStringLiteral("list orders"))))
        return r;
    QStringList ids;
    QVector<qint64> created;
    while (q.next()) {
        ids << q.value(0).toString();
        created << q.value(1).toLongLong();
    }
    if (ids.size() > limit) {
        ids.removeLast();
        created.removeLast();
        r.value.nextCursor = QString::number(created.last()) + QLatin1Char('_') + ids.last();
    }
    if (ids.isEmpty())
        return r;
    QStringList lits;
    for (const QString &id : std::as_const(ids))
        lits << d->lit(id);
    QSqlQuery ev(d->db());
    ev.setForwardOnly(true);
    if ((r.error = d->run(ev,
                          QStringLiteral("SELECT %1 FROM order_events WHERE order_id IN (%2) ORDER BY order_id, seq")
                              .arg(QLatin1String(kEventColumns), lits.join(QLatin1Char(','))),
                          QStringLiteral("list order events"))))
        return r;
    std::map<QString, OrderProgress> folded;
    while (ev.next()) {
        const OrderEvent e = d->eventFromQuery(ev);
        const QString key = idText(e.orderId);
        auto it = folded.find(key);
        if (it == folded.end())
            it = folded.emplace(key, OrderProgress(e.orderId)).first;
        it->second.apply(e);
    }
    for (const QString &id : std::as_const(ids)) {
        auto it = folded.find(id);
        if (it != folded.end())
            r.value.orders.append(it->second);
    }
    return r;
}

StoreResult<QVector<OrderRecord>> SagaStore::ordersForCustomer(const QUuid &customerId)
{
    StoreResult<QVector<OrderRecord>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT id FROM orders WHERE customer_id = %1 ORDER BY created_at DESC LIMIT 1000")
                              .arg(d->lit(idText(customerId))),
                          QStringLiteral("orders for customer"))))
        return r;
    QVector<QUuid> ids;
    while (q.next())
        ids << QUuid::fromString(q.value(0).toString());
    for (const QUuid &id : std::as_const(ids)) {
        auto o = loadOrder(id);
        if (!o.ok()) {
            r.error = o.error;
            return r;
        }
        r.value.append(o.value);
    }
    return r;
}

StoreResult<QVector<ExecutionRecord>> SagaStore::executions(const QUuid &orderId)
{
    StoreResult<QVector<ExecutionRecord>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT execution_id, order_id, attempt, status, current_step, started_at, completed_at "
                                         "FROM saga_executions WHERE order_id = %1 ORDER BY attempt")
                              .arg(d->lit(idText(orderId))),
                          QStringLiteral("load executions"))))
        return r;
    while (q.next()) {
        ExecutionRecord e;
        e.executionId = q.value(0).toString();
        e.orderId = QUuid::fromString(q.value(1).toString());
        e.attemptNumber = q.value(2).toInt();
        e.status = overallFromText(q.value(3).toString()).value_or(OverallStatus::Queued);
        if (!q.value(4).toString().isEmpty())
            e.currentStep = stepFromName(q.value(4).toString());
        e.startedAt = fromMs(q.value(5));
        e.completedAt = fromMs(q.value(6));
        r.value.append(e);
    }
    return r;
}

StoreResult<QVector<RetryAttempt>> SagaStore::retryAttempts(const QUuid &orderId)
{
    StoreResult<QVector<RetryAttempt>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT attempt_number, initiated_at, resumed_from_step, outcome, execution_id "
                                         "FROM retry_attempts WHERE order_id = %1 ORDER BY attempt_number")
                              .arg(d->lit(idText(orderId))),
                          QStringLiteral("load retry attempts"))))
        return r;
    while (q.next()) {
        RetryAttempt a;
        a.attemptNumber = q.value(0).toInt();
        a.initiatedAt = fromMs(q.value(1));
        a.resumedFromStep = q.value(2).toString();
        a.outcome = q.value(3).toString();
        a.executionId = q.value(4).toString();
        r.value.append(a);
    }
    return r;
}

StoreResult<QVector<QPair<SagaStep, qint64>>> SagaStore::recentStepDurations(int limit)
{
    StoreResult<QVector<QPair<SagaStep, qint64>>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    q.setForwardOnly(true);
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT step_name, completed_at - started_at FROM saga_step_results "
                                         "WHERE status IN ('COMPLETED','COMPENSATING','COMPENSATED') "
                                         "AND started_at IS NOT NULL AND completed_at IS NOT NULL "
                                         "ORDER BY completed_at DESC LIMIT %1")
                              .arg(qBound(1, limit, 100000)),
                          QStringLiteral("recent step durations"))))
        return r;
    while (q.next()) {
        if (auto step = stepFromName(q.value(0).toString()))
            r.value.append(qMakePair(*step, q.value(1).toLongLong()));
    }
    return r;
}

// ---- writes -----------------------------------------------------------------

StoreResult<QVector<OrderEvent>> SagaStore::commitTransitions(const QVector<StoreTransition> &batch,
                                                              const QString &leaseOwner, qint64 leaseMs)
{
    StoreResult<QVector<OrderEvent>> r;
    if (batch.isEmpty())
        return r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const QString owner = d->lit(leaseOwner);
    QVector<OrderEvent> events;
    events.reserve(batch.size());
    for (const StoreTransition &t : batch)
        events.append(t.event);

    auto fail = [&](StoreError e) {
        d->rollback();
        r.error = e;
        return r;
    };
    if ((r.error = d->begin()))
        return fail(r.error);

    // 1. positions and order numbers come from the single-row counter, whose row
    // lock serializes commits (that is what makes positions commit-ordered across
    // engines). On PostgreSQL the counter is taken by the LAST statement before
    // COMMIT (step 9), so the lock is held only for that statement and the commit;
    // new orders get a unique placeholder number that step 9 replaces. SQLite has a
    // single writer anyway: take the counter first.
    int newOrders = 0;
    for (const StoreTransition &t : batch)
        newOrders += t.newOrder ? 1 : 0;
    qint64 firstPosition = 0;
    qint64 nextOrderNumber = 1;
    if (!d->pg()) {
        QSqlQuery counter(d->db());
        if (StoreError e = d->run(counter,
                                  QStringLiteral("UPDATE saga_counters SET last_position = last_position + %1, "
                                                 "last_order_number = last_order_number + %2 WHERE id = 1 "
                                                 "RETURNING last_position, last_order_number")
                                      .arg(batch.size())
                                      .arg(newOrders),
                                  QStringLiteral("take positions")))
            return fail(e);
        if (!counter.next())
            return fail(StoreError{StoreError::Invalid, QStringLiteral("saga_counters row missing")});
        firstPosition = counter.value(0).toLongLong() - batch.size() + 1;
        nextOrderNumber = counter.value(1).toLongLong() - newOrders + 1;
        counter.finish();
    }
    QVector<int> newOrderRank(batch.size(), 0); // 1..newOrders for transitions creating an order
    QVector<QString> orderDay(batch.size());

    // Final state per execution and the last status change per order in this batch:
    // rows created by this batch are inserted in that state (no second write).
    struct ExecState {
        const StoreTransition *t;
        qint64 at;
    };
    std::map<QString, ExecState> execs;
    for (int i = 0; i < batch.size(); ++i)
        execs[batch[i].executionId] = ExecState{&batch[i], toMs(batch[i].event.timestamp)};
    std::map<QString, const StoreTransition *> orders; // only transitions that change the order's status
    for (const StoreTransition &t : batch) {
        const EventType type = t.event.type;
        const bool changesOrder = (type == EventType::SagaStarted && t.retry)
            || (type == EventType::StepStarted && t.event.step == SagaStep::Inventory)
            || (type == EventType::CompensationStarted && !t.event.step) || type == EventType::SagaCompleted
            || type == EventType::SagaFailed;
        if (changesOrder)
            orders[idText(t.event.orderId)] = &t;
    }
    std::set<QString> insertedFinal; // executions and orders inserted in their final state

    // 2. new orders, their items and retry corrections.
    QStringList orderRows, itemRows, executionRows, retryRows, statements;
    for (int i = 0; i < batch.size(); ++i) {
        const StoreTransition &t = batch[i];
        OrderEvent &e = events[i];
        e.position = firstPosition + i;
        const QString orderId = d->lit(idText(e.orderId));
        if (t.newOrder) {
            const OrderRequest &o = *t.newOrder;
            orderDay[i] = QDateTime::fromMSecsSinceEpoch(toMs(e.timestamp), Qt::UTC).toString(QStringLiteral("yyyyMMdd"));
            QString number;
            if (d->pg()) {
                number = QStringLiteral("pending-") + idText(e.orderId); // replaced in step 9
                newOrderRank[i] = int(nextOrderNumber++);
            } else {
                number = QStringLiteral("ORD-%1-%2").arg(orderDay[i]).arg(nextOrderNumber++, 6, 10, QLatin1Char('0'));
                e.details.insert(QStringLiteral("orderNumber"), number);
            }
            QString status = QStringLiteral("'PENDING','QUEUED'");
            const auto change = orders.find(idText(e.orderId));
            if (change != orders.end() && !isTerminalOverall(change->second->overall)) {
                status = d->lit(recordText(change->second->overall)) + QLatin1Char(',')
                    + d->lit(overallText(change->second->overall));
                insertedFinal.insert(QStringLiteral("o:") + idText(e.orderId));
            }
            orderRows << QStringLiteral("(%1,%2,%3,%13,%4,%5,%6,%7,%8,%9,%10,%11,%12,%12)")
                             .arg(orderId, d->lit(number), d->lit(idText(o.customerId)), d->lit(o.paymentMethodId),
                                  d->lit(o.shippingAddress.street), d->lit(o.shippingAddress.city),
                                  d->lit(o.shippingAddress.state), d->lit(o.shippingAddress.postalCode),
                                  d->lit(o.shippingAddress.country))
                             .arg(o.totalInCents())
                             .arg(d->lit(o.traceId.isEmpty() ? QString() : o.traceId))
                             .arg(toMs(e.timestamp))
                             .arg(status);
            for (int line = 0; line < o.items.size(); ++line) {
                const OrderItem &it = o.items[line];
                itemRows << QStringLiteral("(%1,%2,%3,%4,%5,%6)")
                                .arg(orderId)
                                .arg(line + 1)
                                .arg(d->lit(it.productId), d->lit(it.productName))
                                .arg(it.quantity)
                                .arg(it.unitPriceInCents);
            }
        }
        if (e.type == EventType::SagaStarted) {
            QString state = QStringLiteral("'QUEUED',NULL");
            const ExecState &final = execs[t.executionId];
            if (!isTerminalOverall(final.t->overall)) {
                state = d->lit(overallText(final.t->overall)) + QLatin1Char(',')
                    + (final.t->currentStep ? d->lit(stepDisplayName(*final.t->currentStep)) : QStringLiteral("NULL"));
                insertedFinal.insert(QStringLiteral("e:") + t.executionId);
            }
            executionRows << QStringLiteral("(%1,%2,%3,%7,%4,NULL,%4,%5,%6)")
                                 .arg(d->lit(t.executionId), orderId)
                                 .arg(t.attemptNumber)
                                 .arg(toMs(e.timestamp))
                                 .arg(owner)
                                 .arg(now + leaseMs)
                                 .arg(state);
            if (t.retry) {
                QStringList sets;
                if (t.retry->paymentMethodId)
                    sets << QStringLiteral("payment_method_id = %1").arg(d->lit(*t.retry->paymentMethodId));
                if (t.retry->shippingAddress) {
                    const ShippingAddress &a = *t.retry->shippingAddress;
                    sets << QStringLiteral("ship_street = %1, ship_city = %2, ship_state = %3, ship_postal_code = %4, "
                                           "ship_country = %5")
                                .arg(d->lit(a.street), d->lit(a.city), d->lit(a.state), d->lit(a.postalCode),
                                     d->lit(a.country));
                }
                if (!sets.isEmpty())
                    statements << QStringLiteral("UPDATE orders SET %1 WHERE id = %2").arg(sets.join(QLatin1String(", ")), orderId);
                retryRows << QStringLiteral("(%1,%2,%3,%4,%5,'IN_PROGRESS')")
                                 .arg(orderId)
                                 .arg(t.attemptNumber)
                                 .arg(d->lit(t.executionId))
                                 .arg(toMs(e.timestamp))
                                 .arg(d->lit(t.resumedFromStep));
            }
        }
    }
    if (!orderRows.isEmpty()) {
        if (StoreError e = d->exec(QStringLiteral("INSERT INTO orders (id, order_number, customer_id, status, overall_status, "
                                                  "payment_method_id, ship_street, ship_city, ship_state, ship_postal_code, "
                                                  "ship_country, total_in_cents, trace_id, created_at, updated_at) VALUES ")
                                       + orderRows.join(QLatin1Char(',')),
                                   QStringLiteral("insert orders")))
            return fail(e);
    }
    if (!itemRows.isEmpty()) {
        if (StoreError e = d->exec(QStringLiteral("INSERT INTO order_items (order_id, line_no, product_id, product_name, "
                                                  "quantity, unit_price_in_cents) VALUES ")
                                       + itemRows.join(QLatin1Char(',')),
                                   QStringLiteral("insert order items")))
            return fail(e);
    }
    for (const QString &sql : std::as_const(statements)) {
        if (StoreError e = d->exec(sql, QStringLiteral("apply retry corrections")))
            return fail(e);
    }
    if (!executionRows.isEmpty()) {
        if (StoreError e = d->exec(QStringLiteral("INSERT INTO saga_executions (execution_id, order_id, attempt, status, "
                                                  "current_step, started_at, completed_at, updated_at, lease_owner, "
                                                  "lease_expires_at) VALUES ")
                                       + executionRows.join(QLatin1Char(',')),
                                   QStringLiteral("insert executions")))
            return fail(e);
    }
    if (!retryRows.isEmpty()) {
        if (StoreError e = d->exec(QStringLiteral("INSERT INTO retry_attempts (order_id, attempt_number, execution_id, "
                                                  "initiated_at, resumed_from_step, outcome) VALUES ")
                                       + retryRows.join(QLatin1Char(',')),
                                   QStringLiteral("insert retry attempts")))
            return fail(e);
    }

    // 3. executions: final state per execution, only if this engine holds the lease
    // (executions this batch inserted in their final state need no update).
    int updatedExecs = 0;
    for (const auto &[id, st] : execs)
        updatedExecs += insertedFinal.count(QStringLiteral("e:") + id) ? 0 : 1;
    if (updatedExecs > 0) {
        QStringList rows;
        for (const auto &[id, st] : execs) {
            if (insertedFinal.count(QStringLiteral("e:") + id))
                continue;
            const bool terminal = isTerminalOverall(st.t->overall);
            rows << QStringLiteral("(%1,%2,%3,%4,%5)")
                        .arg(d->lit(id), d->lit(overallText(st.t->overall)),
                             st.t->currentStep ? d->lit(stepDisplayName(*st.t->currentStep)) : QStringLiteral("NULL"))
                        .arg(terminal ? QString::number(st.at) : QStringLiteral("NULL"))
                        .arg(terminal ? 1 : 0);
        }
        QSqlQuery q(d->db());
        const QString sql = QStringLiteral(
            "WITH v(execution_id, status, current_step, completed_at, terminal) AS (VALUES %1) "
            "UPDATE saga_executions SET status = v.status, current_step = v.current_step, updated_at = %2, "
            "completed_at = CAST(v.completed_at AS BIGINT), "
            "lease_owner = CASE WHEN v.terminal = 1 THEN NULL ELSE saga_executions.lease_owner END, "
            "lease_expires_at = CASE WHEN v.terminal = 1 THEN NULL ELSE saga_executions.lease_expires_at END "
            "FROM v WHERE saga_executions.execution_id = v.execution_id AND saga_executions.lease_owner = %3")
                                .arg(rows.join(QLatin1Char(',')))
                                .arg(now)
                                .arg(owner);
        if (StoreError e = d->run(q, sql, QStringLiteral("update executions")))
            return fail(e);
        if (q.numRowsAffected() != updatedExecs)
            return fail(StoreError{StoreError::Conflict,
                                   QStringLiteral("lease lost: %1 of %2 executions not held by %3")
                                       .arg(updatedExecs - q.numRowsAffected())
                                       .arg(updatedExecs)
                                       .arg(leaseOwner)});
    }

    // 4. step results, merged per (execution, step).
    {
        struct StepRow {
            QString status;
            QVariant startedAt, completedAt, errorCode, errorMessage, result;
        };
        std::map<std::pair<QString, QString>, StepRow> steps;
        for (const StoreTransition &t : batch) {
            if (!t.event.step || !t.stepStatus)
                continue;
            const qint64 at = toMs(t.event.timestamp);
            StepRow &row = steps[{t.executionId, stepDisplayName(*t.event.step)}];
            row.status = stepStatusText(*t.stepStatus);
            const bool forwardEnd = (*t.stepStatus == StepStatus::Completed
                                     || (*t.stepStatus == StepStatus::Failed && t.event.type == EventType::StepFailed
                                         && t.event.details.value(QStringLiteral("phase")).toString()
                                                != QLatin1String("COMPENSATION")));
            if (*t.stepStatus == StepStatus::InProgress)
                row.startedAt = at;
            if (forwardEnd)
                row.completedAt = at;
            if (!t.event.error.isNull()) {
                row.errorCode = t.event.error.code;
                row.errorMessage = t.event.error.message;
            }
            if (!t.stepResult.isEmpty())
                row.result = QString::fromUtf8(QJsonDocument(t.stepResult).toJson(QJsonDocument::Compact));
        }
        if (!steps.empty()) {
            QStringList rows;
            for (const auto &[key, row] : steps)
                rows << QStringLiteral("(%1,%2,%3,%4,%5,%6,%7,%8)")
                            .arg(d->lit(key.first), d->lit(key.second), d->lit(row.status), d->lit(row.startedAt),
                                 d->lit(row.completedAt), d->lit(row.errorCode), d->lit(row.errorMessage),
                                 d->lit(row.result));
            const QString sql = QStringLiteral(
                "INSERT INTO saga_step_results (execution_id, step_name, status, started_at, completed_at, error_code, "
                "error_message, result) VALUES %1 ON CONFLICT (execution_id, step_name) DO UPDATE SET "
                "status = excluded.status, "
                "started_at = COALESCE(excluded.started_at, saga_step_results.started_at), "
                "completed_at = COALESCE(excluded.completed_at, saga_step_results.completed_at), "
                "error_code = COALESCE(excluded.error_code, saga_step_results.error_code), "
                "error_message = COALESCE(excluded.error_message, saga_step_results.error_message), "
                "result = COALESCE(excluded.result, saga_step_results.result)")
                                    .arg(rows.join(QLatin1Char(',')));
            if (StoreError e = d->exec(sql, QStringLiteral("upsert step results")))
                return fail(e);
        }
    }

    // 5. the events themselves (PostgreSQL: step 9).
    if (!d->pg()) {
        QStringList rows;
        for (const OrderEvent &e : std::as_const(events))
            rows << QStringLiteral("(%1,%2,%3,%4,%5,%6,%7)")
                        .arg(d->lit(idText(e.orderId)))
                        .arg(e.seq)
                        .arg(e.position)
                        .arg(d->lit(toString(e.type)),
                             e.step ? d->lit(stepDisplayName(*e.step)) : QStringLiteral("NULL"),
                             d->lit(eventDetailsJson(e)))
                        .arg(toMs(e.timestamp));
        if (StoreError e = d->exec(QStringLiteral("INSERT INTO order_events (order_id, seq, position, event_type, step_name, "
                                                  "details, created_at) VALUES ")
                                       + rows.join(QLatin1Char(',')),
                                   QStringLiteral("insert events")))
            return fail(e);
    }

    // 6. order rows: status, and the outcome on completion.
    {
        // Only transitions that change the order's status touch the order row
        // (orders this batch inserted in their final status need no update).
        QStringList rows;
        for (const auto &[id, t] : orders) {
            if (insertedFinal.count(QStringLiteral("o:") + id))
                continue;
            const QJsonObject &det = t->event.details;
            const bool completed = t->event.type == EventType::SagaCompleted;
            rows << QStringLiteral("(%1,%2,%3,%4,%5,%6)")
                        .arg(d->lit(id), d->lit(recordText(t->overall)), d->lit(overallText(t->overall)),
                             completed ? d->lit(det.value(QStringLiteral("confirmationNumber")).toString())
                                       : QStringLiteral("NULL"),
                             completed ? QString::number(det.value(QStringLiteral("totalChargedInCents")).toInteger())
                                       : QStringLiteral("NULL"),
                             completed ? d->lit(det.value(QStringLiteral("estimatedDelivery")).toString())
                                       : QStringLiteral("NULL"));
        }
        const QString sql = rows.isEmpty() ? QString() : QStringLiteral(
            "WITH v(id, status, overall_status, confirmation_number, total_charged, estimated_delivery) AS (VALUES %1) "
            "UPDATE orders SET status = v.status, overall_status = v.overall_status, updated_at = %2, "
            "confirmation_number = COALESCE(v.confirmation_number, orders.confirmation_number), "
            "total_charged_in_cents = COALESCE(CAST(v.total_charged AS BIGINT), orders.total_charged_in_cents), "
            "estimated_delivery = COALESCE(v.estimated_delivery, orders.estimated_delivery) "
            "FROM v WHERE orders.id = v.id")
                                .arg(rows.join(QLatin1Char(',')))
                                .arg(now);
        if (!sql.isEmpty()) {
            if (StoreError e = d->exec(sql, QStringLiteral("update orders")))
                return fail(e);
        }
    }

    // 7. outcome of retry attempts that ended.
    for (const StoreTransition &t : batch) {
        if (t.attemptNumber > 1 && isTerminalOverall(t.overall)
            && (t.event.type == EventType::SagaCompleted || t.event.type == EventType::SagaFailed)) {
            if (StoreError e = d->exec(QStringLiteral("UPDATE retry_attempts SET outcome = %1 WHERE execution_id = %2")
                                           .arg(d->lit(outcomeFor(t.overall)), d->lit(t.executionId)),
                                       QStringLiteral("update retry outcome")))
                return fail(e);
        }
    }

    // 8. NOTIFY in the same transaction (delivered on commit), one per event.
    if (d->pg()) {
        QStringList payloads;
        payloads.reserve(events.size());
        for (const OrderEvent &e : std::as_const(events))
            payloads << idText(e.orderId) + QLatin1Char(':') + QString::number(e.seq);
        if (StoreError e = d->exec(QStringLiteral("SELECT pg_notify('saga_events', p) FROM unnest(%1::text[]) AS p")
                                       .arg(d->lit(pgArray(payloads))),
                                   QStringLiteral("notify")))
            return fail(e);
    }

    // 9. PostgreSQL, last before COMMIT: take the positions and order numbers from
    // the counter, insert the events with them and give new orders their numbers,
    // in ONE statement (event rows travel as arrays: one short statement to parse).
    if (d->pg()) {
        QStringList orderIds, seqs, types, steps, details, created, ranks, days;
        for (int i = 0; i < events.size(); ++i) {
            const OrderEvent &e = events[i];
            orderIds << idText(e.orderId);
            seqs << QString::number(e.seq);
            types << toString(e.type);
            steps << (e.step ? stepDisplayName(*e.step) : QString());
            details << eventDetailsJson(e);
            created << QString::number(toMs(e.timestamp));
            ranks << QString::number(newOrderRank[i]);
            days << orderDay[i];
        }
        const QString sql = QStringLiteral(
            "WITH c AS (UPDATE saga_counters SET last_position = last_position + %1, "
            "last_order_number = last_order_number + %2 WHERE id = 1 "
            "RETURNING last_position - %1 AS p0, last_order_number - %2 AS o0), "
            "u AS (SELECT x.*, c.p0, 'ORD-' || x.day || '-' || lpad((c.o0 + x.rank)::text, "
            "greatest(6, length((c.o0 + x.rank)::text)), '0') AS number FROM c, "
            "unnest(%3::text[], %4::bigint[], %5::text[], %6::text[], %7::jsonb[], %8::bigint[], %9::int[], %10::text[]) "
            "WITH ORDINALITY AS x(order_id, seq, event_type, step_name, details, created_at, rank, day, ord)), "
            "o AS (UPDATE orders SET order_number = u.number FROM u WHERE u.rank > 0 AND orders.id = u.order_id), "
            "e AS (INSERT INTO order_events (order_id, seq, position, event_type, step_name, details, created_at) "
            "SELECT order_id, seq, p0 + ord, event_type, NULLIF(step_name, ''), "
            "CASE WHEN rank > 0 THEN jsonb_set(details, '{orderNumber}', to_jsonb(number)) ELSE details END, "
            "created_at FROM u) "
            "SELECT p0, o0 FROM c")
                                .arg(batch.size())
                                .arg(newOrders)
                                .arg(d->lit(pgArray(orderIds)), d->lit(pgArray(seqs)), d->lit(pgArray(types)),
                                     d->lit(pgArray(steps)), d->lit(pgArray(details)), d->lit(pgArray(created)),
                                     d->lit(pgArray(ranks)), d->lit(pgArray(days)));
        QSqlQuery q(d->db());
        if (StoreError e = d->run(q, sql, QStringLiteral("take positions and insert events")))
            return fail(e);
        if (!q.next())
            return fail(StoreError{StoreError::Invalid, QStringLiteral("saga_counters row missing")});
        const qint64 p0 = q.value(0).toLongLong();
        const qint64 o0 = q.value(1).toLongLong();
        q.finish();
        for (int i = 0; i < events.size(); ++i) {
            OrderEvent &e = events[i];
            e.position = p0 + i + 1;
            if (newOrderRank[i] > 0)
                e.details.insert(QStringLiteral("orderNumber"),
                                 QStringLiteral("ORD-%1-%2").arg(orderDay[i]).arg(o0 + newOrderRank[i], 6, 10,
                                                                                     QLatin1Char('0')));
        }
    }

    if (StoreError e = d->commit())
        return fail(e);
    r.value = events;
    return r;
}

StoreResult<std::optional<OrderEvent>> SagaStore::findEvent(const QUuid &orderId, qint64 seq)
{
    StoreResult<std::optional<OrderEvent>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT %1 FROM order_events WHERE order_id = %2 AND seq = %3")
                              .arg(QLatin1String(kEventColumns), d->lit(idText(orderId)))
                              .arg(seq),
                          QStringLiteral("find event"))))
        return r;
    if (q.next())
        r.value = d->eventFromQuery(q);
    return r;
}

StoreResult<QVector<ClaimedExecution>> SagaStore::claimSagas(const QString &leaseOwner, qint64 leaseMs, int limit,
                                                             bool includeOwn)
{
    StoreResult<QVector<ClaimedExecution>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    auto fail = [&](StoreError e) {
        d->rollback();
        r.error = e;
        r.value.clear();
        return r;
    };
    if ((r.error = d->begin()))
        return fail(r.error);
    QSqlQuery q(d->db());
    const QString sql = QStringLiteral(
        "SELECT execution_id, order_id, attempt FROM saga_executions WHERE status IN %1 "
        "AND (lease_owner IS NULL OR lease_expires_at < %2%3) ORDER BY started_at LIMIT %4%5")
                            .arg(kActiveStatuses)
                            .arg(now)
                            .arg(includeOwn ? QStringLiteral(" OR lease_owner = ") + d->lit(leaseOwner) : QString())
                            .arg(qBound(1, limit, 10000))
                            .arg(d->pg() ? QStringLiteral(" FOR UPDATE SKIP LOCKED") : QString());
    if (StoreError e = d->run(q, sql, QStringLiteral("claim sagas")))
        return fail(e);
    QStringList ids;
    while (q.next()) {
        r.value.append(ClaimedExecution{q.value(0).toString(), QUuid::fromString(q.value(1).toString()), q.value(2).toInt()});
        ids << d->lit(q.value(0).toString());
    }
    q.finish();
    if (!ids.isEmpty()) {
        if (StoreError e = d->exec(QStringLiteral("UPDATE saga_executions SET lease_owner = %1, lease_expires_at = %2 "
                                                  "WHERE execution_id IN (%3)")
                                       .arg(d->lit(leaseOwner))
                                       .arg(now + leaseMs)
                                       .arg(ids.join(QLatin1Char(','))),
                                   QStringLiteral("take leases")))
            return fail(e);
    }
    if (StoreError e = d->commit())
        return fail(e);
    return r;
}

StoreResult<int> SagaStore::renewLeases(const QString &leaseOwner, qint64 leaseMs)
{
    StoreResult<int> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("UPDATE saga_executions SET lease_expires_at = %1 WHERE lease_owner = %2 "
                                         "AND status IN %3")
                              .arg(QDateTime::currentMSecsSinceEpoch() + leaseMs)
                              .arg(d->lit(leaseOwner), kActiveStatuses),
                          QStringLiteral("renew leases"))))
        return r;
    r.value = q.numRowsAffected();
    return r;
}

StoreError SagaStore::releaseLeases(const QString &leaseOwner, const QStringList &executionIds)
{
    if (!isOpen())
        return d->notOpen();
    QString sql = QStringLiteral("UPDATE saga_executions SET lease_owner = NULL, lease_expires_at = NULL "
                                 "WHERE lease_owner = %1")
                      .arg(d->lit(leaseOwner));
    if (!executionIds.isEmpty()) {
        QStringList lits;
        for (const QString &id : executionIds)
            lits << d->lit(id);
        sql += QStringLiteral(" AND execution_id IN (%1)").arg(lits.join(QLatin1Char(',')));
    }
    return d->exec(sql, QStringLiteral("release leases"));
}

StoreResult<ExecutionRecord> SagaStore::latestExecution(const QUuid &orderId)
{
    StoreResult<ExecutionRecord> r;
    auto all = executions(orderId);
    if (!all.ok()) {
        r.error = all.error;
        return r;
    }
    if (all.value.isEmpty()) {
        r.error = StoreError{StoreError::NotFound, QStringLiteral("order not found")};
        return r;
    }
    r.value = all.value.last();
    return r;
}

StoreResult<std::optional<OrderEvent>> SagaStore::lastSagaFailure(const QUuid &orderId)
{
    StoreResult<std::optional<OrderEvent>> r;
    if (!isOpen()) {
        r.error = d->notOpen();
        return r;
    }
    QSqlQuery q(d->db());
    if ((r.error = d->run(q,
                          QStringLiteral("SELECT %1 FROM order_events WHERE order_id = %2 ORDER BY seq DESC LIMIT 1")
                              .arg(QLatin1String(kEventColumns), d->lit(idText(orderId))),
                          QStringLiteral("last event"))))
        return r;
    if (q.next()) {
        OrderEvent e = d->eventFromQuery(q);
        if (e.type == EventType::SagaFailed)
            r.value = e;
    }
    return r;
}
