#include "connectiondialog.h"

#include <QButtonGroup>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QStackedWidget>
#include <QToolButton>
#include <QVBoxLayout>

ConnectionDialog::ConnectionDialog(const SourceSpec &current, QWidget *parent)
    : QDialog(parent)
{
    setWindowTitle(tr("Connect"));
    setMinimumWidth(520);
    auto *layout = new QVBoxLayout(this);
    m_kinds = new QButtonGroup(this);
    m_embedded = new QRadioButton(tr("&Embedded engine — runs sagas in this window (SQLite file)"), this);
    m_remote = new QRadioButton(tr("&Remote saga-server — REST and live stream (SUPPORT token)"), this);
    m_database = new QRadioButton(tr("&Database — read a PostgreSQL saga database directly"), this);
    m_kinds->addButton(m_embedded, int(SourceSpec::Kind::Embedded));
    m_kinds->addButton(m_remote, int(SourceSpec::Kind::Remote));
    m_kinds->addButton(m_database, int(SourceSpec::Kind::Database));
    layout->addWidget(m_embedded);
    layout->addWidget(m_remote);
    layout->addWidget(m_database);

    m_pages = new QStackedWidget(this);
    auto *embeddedPage = new QWidget(m_pages);
    auto *embeddedForm = new QFormLayout(embeddedPage);
    auto *pathRow = new QHBoxLayout;
    m_sqlitePath = new QLineEdit(embeddedPage);
    auto *browse = new QToolButton(embeddedPage);
    browse->setText(tr("…"));
    connect(browse, &QToolButton::clicked, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Database file"), m_sqlitePath->text(),
                                                          tr("SQLite databases (*.sqlite *.db)"), nullptr,
                                                          QFileDialog::DontConfirmOverwrite);
        if (!path.isEmpty())
            m_sqlitePath->setText(path);
    });
    pathRow->addWidget(m_sqlitePath, 1);
    pathRow->addWidget(browse);
    embeddedForm->addRow(tr("Database file:"), pathRow);
    m_pages->addWidget(embeddedPage);

    auto *remotePage = new QWidget(m_pages);
    auto *remoteForm = new QFormLayout(remotePage);
    m_serverUrl = new QLineEdit(remotePage);
    m_serverUrl->setPlaceholderText(QStringLiteral("http://127.0.0.1:8080"));
    m_token = new QLineEdit(remotePage);
    m_token->setEchoMode(QLineEdit::PasswordEchoOnEdit);
    m_token->setPlaceholderText(tr("JWT with the SUPPORT role"));
    remoteForm->addRow(tr("Server &URL:"), m_serverUrl);
    remoteForm->addRow(tr("&Token:"), m_token);
    m_pages->addWidget(remotePage);

    auto *databasePage = new QWidget(m_pages);
    auto *databaseForm = new QFormLayout(databasePage);
    m_postgresUrl = new QLineEdit(databasePage);
    m_postgresUrl->setPlaceholderText(QStringLiteral("postgresql://USER@HOST:5432/DB"));
    databaseForm->addRow(tr("Database &URL:"), m_postgresUrl);
    auto *hint = new QLabel(tr("Read-only: placing, retrying and failure injection need an engine."),
                            databasePage);
    hint->setEnabled(false);
    databaseForm->addRow(QString(), hint);
    m_pages->addWidget(databasePage);
    layout->addWidget(m_pages);

    m_error = new QLabel(this);
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #C5221F;"));
    layout->addWidget(m_error);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("&Connect"));
    connect(buttons, &QDialogButtonBox::accepted, this, &ConnectionDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
    connect(m_kinds, &QButtonGroup::idToggled, this, [this](int, bool on) {
        if (on)
            updatePage();
    });
    setSpec(current);
}

void ConnectionDialog::setSpec(const SourceSpec &spec)
{
    m_kinds->button(int(spec.kind))->setChecked(true);
    m_sqlitePath->setText(spec.embeddedDatabase.isPostgres() ? DatabaseUrl::defaultSqlite().path
                                                             : spec.embeddedDatabase.path);
    m_serverUrl->setText(spec.serverUrl.toString());
    m_token->setText(spec.token);
    m_postgresUrl->setText(spec.databaseUrl);
    m_stepDelayMs = spec.stepDelayMs;
    updatePage();
}

void ConnectionDialog::updatePage()
{
    m_pages->setCurrentIndex(m_kinds->checkedId());
    m_error->clear();
}

SourceSpec ConnectionDialog::spec() const
{
    SourceSpec s;
    s.kind = SourceSpec::Kind(m_kinds->checkedId());
    s.stepDelayMs = m_stepDelayMs;
    QString error;
    if (auto url = DatabaseUrl::parse(QStringLiteral("sqlite:") + m_sqlitePath->text().trimmed(), &error))
        s.embeddedDatabase = *url;
    s.serverUrl = SourceSpec::serverUrlFromText(m_serverUrl->text());
    s.token = m_token->text().trimmed();
    s.databaseUrl = m_postgresUrl->text().trimmed();
    return s;
}

void ConnectionDialog::accept()
{
    const SourceSpec s = spec();
    QString problem = s.validate();
    if (s.kind == SourceSpec::Kind::Embedded && m_sqlitePath->text().trimmed().isEmpty())
        problem = tr("Choose a database file for the embedded engine.");
    if (!problem.isEmpty()) {
        m_error->setText(problem);
        return;
    }
    QDialog::accept();
}
