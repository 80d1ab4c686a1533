-- Issue 12: record_hash becomes a stored generated column, computed by Postgres as a row arrives, so an
-- import can COPY rows straight into a raw table (raw_writer.py: a batch that cannot meet a stored row
-- skips the stage and its INSERT ... SELECT). The expression is the one the importer always used
-- (hash_record_extended over every stored field, in column order), so every stored value stays the same.
-- Views over the raw tables (dbt's staging views and the views reading them) are kept: their definitions
-- are saved, they are dropped for the change and created again, with their owners and grants.
-- The tables are rewritten once (minutes for tens of millions of rows).
do $$
declare
    raw_tables constant regclass[] := array[
        'raw.extended_streams', 'raw.account_music_streams',
        'raw.account_podcast_streams', 'raw.account_audiobook_streams'
    ]::regclass[];
    saved record;
    views text[] := '{}';
    definitions text[] := '{}';
    grants record;
    kind text;
begin
    for saved in
        with recursive dependents (oid, depth) as (
            select r.ev_class, 1
            from pg_depend d join pg_rewrite r on r.oid = d.objid
            where d.refobjid = any (raw_tables) and r.ev_class <> d.refobjid
            union all
            select r.ev_class, dependents.depth + 1
            from dependents
            join pg_depend d on d.refobjid = dependents.oid
            join pg_rewrite r on r.oid = d.objid
            where r.ev_class <> d.refobjid
        )
        select c.oid, c.oid::regclass::text as name, c.relkind, pg_get_userbyid(c.relowner) as owner,
               pg_get_viewdef(c.oid) as definition, max(dependents.depth) as depth
        from dependents join pg_class c on c.oid = dependents.oid
        group by c.oid, c.relkind, c.relowner
        order by depth
    loop
        kind := case saved.relkind when 'm' then 'materialized view' else 'view' end;
        views := views || format('%s %s', kind, saved.name);
        definitions := definitions
            || format('create %s %s as %s', kind, saved.name, rtrim(saved.definition, '; '))
            || format('alter %s %s owner to %I', kind, saved.name, saved.owner);
        for grants in
            select a.privilege_type, case a.grantee when 0 then 'public' else quote_ident(pg_get_userbyid(a.grantee)) end as grantee
            from pg_class c, aclexplode(c.relacl) a
            where c.oid = saved.oid and a.grantee <> c.relowner
        loop
            definitions := definitions || format('grant %s on %s to %s', grants.privilege_type, saved.name, grants.grantee);
        end loop;
    end loop;
    for i in reverse coalesce(array_length(views, 1), 0) .. 1 loop
        execute format('drop %s', views[i]);
    end loop;

    alter table raw.extended_streams drop column record_hash;
    alter table raw.extended_streams add column record_hash bigint not null generated always as (hash_record_extended(row(
        ts, platform, ms_played, conn_country, master_metadata_track_name, master_metadata_album_artist_name,
        master_metadata_album_album_name, spotify_track_uri, episode_name, episode_show_name, spotify_episode_uri,
        audiobook_title, audiobook_uri, audiobook_chapter_uri, audiobook_chapter_title, reason_start, reason_end,
        shuffle, skipped, offline, offline_timestamp, incognito_mode, extra), 0)) stored;
    alter table raw.extended_streams add unique (user_id, ts, record_hash, occurrence);

    alter table raw.account_music_streams drop column record_hash;
    alter table raw.account_music_streams add column record_hash bigint not null generated always as
        (hash_record_extended(row(end_time, artist_name, track_name, ms_played, extra), 0)) stored;
    alter table raw.account_music_streams add unique (user_id, end_time, record_hash, occurrence);

    alter table raw.account_podcast_streams drop column record_hash;
    alter table raw.account_podcast_streams add column record_hash bigint not null generated always as
        (hash_record_extended(row(end_time, podcast_name, episode_name, ms_played, extra), 0)) stored;
    alter table raw.account_podcast_streams add unique (user_id, end_time, record_hash, occurrence);

    alter table raw.account_audiobook_streams drop column record_hash;
    alter table raw.account_audiobook_streams add column record_hash bigint not null generated always as
        (hash_record_extended(row(end_time, audiobook_name, chapter_name, author_name, ms_played, extra), 0)) stored;
    alter table raw.account_audiobook_streams add unique (user_id, end_time, record_hash, occurrence);

    for i in 1 .. coalesce(array_length(definitions, 1), 0) loop
        execute definitions[i];
    end loop;
end
$$;
