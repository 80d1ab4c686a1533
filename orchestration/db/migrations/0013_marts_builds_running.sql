-- Marts builds are recorded when they start (status running, no finished_at) and completed when
-- they end (issue 25): marts.job_runs, a view over the app tables, shows a build while it runs and
-- as soon as it has ended, not from the next build on.
alter table app.marts_builds drop constraint if exists marts_builds_status_check;
alter table app.marts_builds
    add constraint marts_builds_status_check check (status in ('running', 'succeeded', 'failed')),
    alter column finished_at drop not null,
    alter column finished_at drop default,
    add constraint marts_builds_finished check ((status = 'running') = (finished_at is null));

-- marts.job_runs is now read live: a listener's runs newest first, whatever their kind.
create index spotify_syncs_user_started on app.spotify_syncs (user_id, started_at desc);
